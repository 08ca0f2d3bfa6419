/**
 * SAE files in the SAELens layout: one folder per hook with `cfg.json` (d_in, d_sae, k, hook_name,
 * architecture, ...) and `sae_weights.safetensors` (W_enc [D, F], b_enc [F], W_dec [F, D], b_dec [D]).
 * A staircase position exports its sliced weights like any TopK SAE; the staircase itself is also written in
 * its shared form (`staircase.safetensors`: the shared dictionary and every position's biases).
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import type { SaeSet, SaeView } from '../sae/saeSet.ts';
import type { SaeWeights } from '../sae/topk.ts';
import { expectTensor, readSafetensorsFile, writeSafetensorsFile } from './safetensors.ts';
import { tensorInputs, writeJsonAtomic } from './trainingState.ts';

export const SAE_CFG_FILE = 'cfg.json';
export const SAE_WEIGHTS_FILE = 'sae_weights.safetensors';
export const STAIRCASE_FILE = 'staircase.safetensors';

export interface SaeLensCfg {
  architecture: 'topk';
  d_in: number;
  d_sae: number;
  k: number;
  hook_name: string;
  hook_layer: number;
  model_name: string;
  dtype: 'float32';
  device: 'cpu';
  activation_fn_str: 'topk';
  activation_fn_kwargs: { k: number };
  apply_b_dec_to_input: true;
  normalize_activations: 'none';
  context_size: number;
  prepend_bos: false;
  hook_head_index: null;
  /** Our extras: the architecture the SAE was trained as, and its staircase position. */
  scalar: {
    arch: string;
    setup: string;
    run_id: string;
    staircase?: { name: string; position: number; chunk: number };
  };
}

export interface ExportMeta {
  runId: string;
  modelName: string;
  contextSize: number;
}

/** Folder name for a hook (TransformerLens names are filesystem-safe). */
export const hookFolder = (hook: string) => hook;

export function writeSaeLens(dir: string, cfg: SaeLensCfg, w: SaeWeights): void {
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensorsFile(
    path.join(dir, SAE_WEIGHTS_FILE),
    tensorInputs({ W_enc: w.wEnc, b_enc: w.bEnc, W_dec: w.wDec, b_dec: w.bDec }),
    { format: 'pt' },
  );
  writeJsonAtomic(path.join(dir, SAE_CFG_FILE), cfg);
}

/** Reads a SAELens folder, checking every tensor's shape against cfg.json. */
export function readSaeLens(dir: string): { cfg: SaeLensCfg; weights: SaeWeights } {
  const cfgPath = path.join(dir, SAE_CFG_FILE);
  if (!fs.existsSync(cfgPath)) throw new Error(`${dir} is not a SAELens folder (no ${SAE_CFG_FILE})`);
  const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8')) as SaeLensCfg;
  for (const key of ['d_in', 'd_sae', 'hook_name'] as const)
    if (cfg[key] === undefined) throw new Error(`${cfgPath} lacks '${key}'`);
  const k = cfg.k ?? cfg.activation_fn_kwargs?.k;
  if (typeof k !== 'number')
    throw new Error(`${cfgPath} gives no TopK k (neither 'k' nor activation_fn_kwargs.k)`);
  const file = readSafetensorsFile(path.join(dir, SAE_WEIGHTS_FILE));
  const { d_in: D, d_sae: F } = cfg;
  const t = (name: string, shape: number[]) => {
    const e = expectTensor(file, name, 'F32', shape);
    return tf.tensor(e.data, shape);
  };
  return {
    cfg: { ...cfg, k },
    weights: {
      wEnc: t('W_enc', [D, F]) as tf.Tensor2D,
      bEnc: t('b_enc', [F]) as tf.Tensor1D,
      wDec: t('W_dec', [F, D]) as tf.Tensor2D,
      bDec: t('b_dec', [D]) as tf.Tensor1D,
    },
  };
}

export function saeLensCfg(set: SaeSet, v: SaeView, meta: ExportMeta): SaeLensCfg {
  const layer = Number(/^blocks\.(\d+)\./.exec(v.hook)?.[1] ?? 0);
  const staircase = v.chunk ? set.groups.find((g) => g.hooks.includes(v.hook))!.name : null;
  return {
    architecture: 'topk',
    d_in: v.dict.wEnc.shape[0],
    d_sae: v.width,
    k: v.k,
    hook_name: v.hook,
    hook_layer: layer,
    model_name: meta.modelName,
    dtype: 'float32',
    device: 'cpu',
    activation_fn_str: 'topk',
    activation_fn_kwargs: { k: v.k },
    apply_b_dec_to_input: true,
    normalize_activations: 'none',
    context_size: meta.contextSize,
    prepend_bos: false,
    hook_head_index: null,
    scalar: {
      arch: set.spec.arch,
      setup: set.spec.setup,
      run_id: meta.runId,
      ...(staircase && v.chunk
        ? { staircase: { name: staircase, position: v.position, chunk: v.chunk } }
        : {}),
    },
  };
}

/** Writes every SAE of the set under `dir`; returns the folders written (relative to dir). */
export function exportSaeSet(dir: string, set: SaeSet, meta: ExportMeta): string[] {
  const written: string[] = [];
  for (const v of set.views) {
    tf.tidy(() => writeSaeLens(path.join(dir, hookFolder(v.hook)), saeLensCfg(set, v, meta), set.weights(v)));
    written.push(hookFolder(v.hook));
  }
  if (set.spec.arch.startsWith('staircase') && set.spec.arch !== 'staircase-untied') {
    for (const g of set.groups) {
      const views = set.views.filter((v) => g.hooks.includes(v.hook));
      const dict = views[0].dict;
      const tensors: Record<string, tf.Tensor> = { W_enc: dict.wEnc, W_dec: dict.wDec };
      views.forEach((v, p) => {
        tensors[`b_enc.${p}`] = v.bEnc;
        tensors[`b_dec.${p}`] = v.bDec;
      });
      const folder = path.join(dir, g.name);
      fs.mkdirSync(folder, { recursive: true });
      writeSafetensorsFile(path.join(folder, STAIRCASE_FILE), tensorInputs(tensors));
      writeJsonAtomic(path.join(folder, SAE_CFG_FILE), {
        architecture: 'staircase',
        variant: set.spec.arch,
        d_in: dict.wEnc.shape[0],
        d_sae: dict.wDec.shape[0],
        chunk: views[0].chunk,
        k: views[0].k,
        hooks: views.map((v) => v.hook),
        widths: views.map((v) => v.width),
        shared_b_dec: set.spec.arch === 'staircase-shared-bias',
        run_id: meta.runId,
      });
      written.push(g.name);
    }
  }
  return written;
}
