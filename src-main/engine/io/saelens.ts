/**
 * SAE files in the SAELens layout: one folder per hook with `cfg.json` (d_in, d_sae, k, hook_name,
 * architecture, ...) and `sae_weights.safetensors` (W_enc [D, F], b_enc [F], W_dec [F, D], b_dec [D]).
 * A staircase position exports its sliced weights like any TopK SAE; the staircase itself is also written in
 * its shared form (`staircase.safetensors`: the shared dictionary and every position's biases).
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { formatIssues } from '../../../src-shared/issues.ts';
import { SAE_ARCHS, SAE_SETUPS } from '../../../src-shared/sae.ts';
import type { SaeSet, SaeView } from '../sae/saeSet.ts';
import type { SaeWeights } from '../sae/topk.ts';
import { expectTensor, readSafetensorsFile, SafetensorsError, writeSafetensorsFile } from './safetensors.ts';
import { tensorInputs, writeJsonAtomic } from './trainingState.ts';

export const SAE_CFG_FILE = 'cfg.json';
export const SAE_WEIGHTS_FILE = 'sae_weights.safetensors';
export const STAIRCASE_FILE = 'staircase.safetensors';

export interface SaeLensCfg {
  architecture: 'topk' | 'standard' | 'jumprelu';
  d_in: number;
  d_sae: number;
  k: number;
  hook_name: string;
  hook_layer: number;
  model_name: string;
  dtype: 'float32';
  device: 'cpu';
  activation_fn_str: 'topk' | 'relu';
  activation_fn_kwargs: { k?: number };
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

export async function writeSaeLens(dir: string, cfg: SaeLensCfg, w: SaeWeights): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensorsFile(
    path.join(dir, SAE_WEIGHTS_FILE),
    await tensorInputs({
      W_enc: w.wEnc,
      b_enc: w.bEnc,
      W_dec: w.wDec,
      b_dec: w.bDec,
      // SAELens's jumprelu layout; a ReLU SAE (architecture 'standard') has no threshold tensor.
      ...(w.threshold && cfg.architecture === 'jumprelu' ? { threshold: w.threshold } : {}),
    }),
    { format: 'pt' },
  );
  writeJsonAtomic(path.join(dir, SAE_CFG_FILE), cfg);
}

const PositiveInt = z.number().int().min(1);

/**
 * What we read from a SAELens cfg.json (other keys are kept and ignored). Checked before anything is loaded, so
 * a wrong value is named with its key and folder: "'k' must be an integer ≥ 1 (got 2.5) in cfg.json of …".
 */
export const SaeLensCfgSchema = z.looseObject({
  architecture: z.string().optional(),
  d_in: PositiveInt,
  d_sae: PositiveInt,
  hook_name: z.string().min(1),
  k: PositiveInt.nullish(),
  activation_fn_kwargs: z.looseObject({ k: PositiveInt.nullish() }).nullish(),
  apply_b_dec_to_input: z.boolean().optional(),
  normalize_activations: z.string().nullish(),
  hook_head_index: z.number().int().nullish(),
  scalar: z
    .looseObject({
      arch: z.enum(SAE_ARCHS),
      setup: z.enum(SAE_SETUPS),
      run_id: z.string().optional(),
      staircase: z
        .object({ name: z.string().min(1), position: z.number().int().min(0), chunk: PositiveInt })
        .optional(),
    })
    .optional(),
});

/** The folder a message names: its last path component (the hook folder, e.g. blocks.0.hook_mlp_out). */
const folderName = (dir: string) => path.basename(path.resolve(dir));

/** The activation an SAE's codes come from: TopK_k, ReLU (SAELens `standard`) or JumpReLU (`jumprelu`). */
export type SaeActivationKind = 'topk' | 'relu' | 'jumprelu';

/** A checked cfg.json: the keys above, plus the activation it implies (k = d_sae for ReLU / JumpReLU SAEs). */
export type ReadSaeLensCfg = SaeLensCfg & { activation: SaeActivationKind };

/**
 * Layouts reproduced in the tests (test/unit/saeLensForeign.test.ts), as the public GPT-2 Small releases ship them:
 *   - gpt2-small-res-jb (jbloom/GPT2-Small-SAEs-Reformatted): the older training-config cfg.json with no
 *     `architecture` key, `hook_point` / `hook_point_layer` / `hook_point_head_index`, `dtype` "torch.float32";
 *     SAELens reads it as a `standard` (ReLU) SAE that subtracts b_dec from its input.
 *   - SAELens ≤ v5 saves: `architecture` "standard" | "jumprelu", `hook_name`, `hook_layer`, `activation_fn_str`
 *     ("relu", or "topk" with `activation_fn_kwargs.k` for TopK SAEs saved as standard), `apply_b_dec_to_input`,
 *     `normalize_activations`, `dtype` "float32".
 *   - SAELens v6 saves: `architecture` "standard" | "jumprelu" | "topk" (with `k`), hook names under `metadata`.
 * Tensors: W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in], and for JumpReLU `threshold`
 * [d_sae] (released SAEs) or `log_threshold` (SAELens training checkpoints; threshold = exp(log_threshold)).
 */
function activationOf(raw: Record<string, unknown>, where: string, name: string): SaeActivationKind {
  const ours = (raw.scalar as { arch?: unknown } | undefined)?.arch;
  if (ours === 'relu' || ours === 'jumprelu') return ours;
  if (typeof ours === 'string') return 'topk';
  const fn = typeof raw.activation_fn_str === 'string' ? raw.activation_fn_str.toLowerCase() : undefined;
  const kwargs = raw.activation_fn_kwargs as { k?: unknown } | null | undefined;
  const hasK = raw.k !== undefined && raw.k !== null ? true : kwargs?.k !== undefined && kwargs?.k !== null;
  const arch = typeof raw.architecture === 'string' ? raw.architecture.toLowerCase() : undefined;
  if (raw.architecture !== undefined && typeof raw.architecture !== 'string')
    throw new Error(`'architecture' must be a string (got ${JSON.stringify(raw.architecture)}) ${where}`);
  const refuseFn = (what: string) =>
    new Error(
      `${name} uses activation_fn_str '${fn}' (${what} ${where}); only 'relu' (standard, jumprelu) and 'topk' can be imported`,
    );
  if (arch === undefined || arch === 'standard') {
    // SAELens's default architecture is `standard`; TopK SAEs used to be saved as standard + activation "topk".
    if (fn === 'topk' || (fn === undefined && hasK)) return 'topk';
    if (fn === undefined || fn === 'relu') return 'relu';
    throw refuseFn(`architecture '${raw.architecture ?? 'standard'}'`);
  }
  if (arch === 'jumprelu') {
    if (fn !== undefined && fn !== 'relu') throw refuseFn("architecture 'jumprelu'");
    return 'jumprelu';
  }
  if (arch === 'topk') return 'topk';
  if (UNSUPPORTED_ARCHS[arch])
    throw new Error(`${name} is ${UNSUPPORTED_ARCHS[arch]} (architecture '${raw.architecture}' ${where})`);
  throw new Error(
    `${name} has architecture '${raw.architecture}' ${where}, which cannot be imported (supported: standard, jumprelu, topk)`,
  );
}

/**
 * Reads and checks a folder's cfg.json: valid JSON holding an object with sensible values, an architecture we
 * can run (standard = ReLU, jumprelu, topk; others refused by name), and for TopK a k with 1 ≤ k ≤ d_sae.
 * Older and newer SAELens key names (hook_point, metadata.hook_name) are read as hook_name.
 */
export function readSaeLensCfg(dir: string): ReadSaeLensCfg {
  const cfgPath = path.join(dir, SAE_CFG_FILE);
  const where = `in ${SAE_CFG_FILE} of ${folderName(dir)}`;
  if (!fs.existsSync(cfgPath)) throw new Error(`${dir} is not a SAELens folder (no ${SAE_CFG_FILE})`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
  } catch (err) {
    throw new Error(`${SAE_CFG_FILE} of ${folderName(dir)} is not valid JSON (${(err as Error).message})`);
  }
  let activation: SaeActivationKind = 'topk';
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    const r = raw as Record<string, unknown>;
    activation = activationOf(r, where, folderName(dir));
    const meta = (r.metadata ?? {}) as Record<string, unknown>;
    raw = {
      ...r,
      hook_name: r.hook_name ?? r.hook_point ?? meta.hook_name,
      hook_head_index: r.hook_head_index ?? r.hook_point_head_index ?? meta.hook_head_index,
    };
  }
  const parsed = SaeLensCfgSchema.safeParse(raw);
  if (!parsed.success)
    throw new Error(
      formatIssues(parsed.error.issues, {
        schema: SaeLensCfgSchema,
        input: raw,
        root: `${SAE_CFG_FILE} of ${folderName(dir)}`,
        where: parsed.error.issues.every((i) => i.path.length === 0) ? '' : where,
      }).replace(/^(cfg\.json of \S+) must be an object/, '$1 must hold a JSON object'),
    );
  const cfg = parsed.data;
  if (activation !== 'topk') return { ...(cfg as unknown as SaeLensCfg), k: cfg.d_sae, activation };
  const k = cfg.k ?? cfg.activation_fn_kwargs?.k;
  if (typeof k !== 'number')
    throw new Error(`${cfgPath} gives no TopK k (neither 'k' nor activation_fn_kwargs.k)`);
  if (k > cfg.d_sae)
    throw new Error(
      `'k' must be ≤ d_sae (${cfg.d_sae}) (got ${k}) ${where}: TopK cannot keep more latents than it has`,
    );
  return { ...(cfg as unknown as SaeLensCfg), k, activation };
}

/** Architectures with tensors we have no reader for, refused by name instead of read wrongly. */
const UNSUPPORTED_ARCHS: Record<string, string> = {
  gated:
    'a gated SAE, which cannot be imported (its b_gate / r_mag / b_mag gating path has no counterpart here)',
};
/** Tensors that mark such architectures even when cfg.json does not say so. */
const UNSUPPORTED_TENSORS: Record<string, string> = {
  b_gate: UNSUPPORTED_ARCHS.gated,
  r_mag: UNSUPPORTED_ARCHS.gated,
  b_mag: UNSUPPORTED_ARCHS.gated,
};

/**
 * A SAELens folder as plain arrays, checked without tfjs: cfg.json (readSaeLensCfg), then the weights file's
 * header, every tensor's presence, dtype (F32) and shape against cfg.json, and that every weight is finite.
 */
export function readSaeLensArrays(dir: string): {
  cfg: ReadSaeLensCfg;
  weights: {
    wEnc: Float32Array;
    bEnc: Float32Array;
    wDec: Float32Array;
    bDec: Float32Array;
    /** ReLU / JumpReLU: θ ≥ 0 per latent (see below); absent for TopK. */
    threshold?: Float32Array;
  };
} {
  const cfg = readSaeLensCfg(dir);
  const name = folderName(dir);
  const file = path.join(dir, SAE_WEIGHTS_FILE);
  if (!fs.existsSync(file)) throw new Error(`${name} has ${SAE_CFG_FILE} but no ${SAE_WEIGHTS_FILE}`);
  if (!fs.statSync(file).isFile()) throw new Error(`${SAE_WEIGHTS_FILE} of ${name} is not a file`);
  const decoded = readSafetensorsFile(file);
  for (const t of Object.keys(decoded.tensors))
    if (UNSUPPORTED_TENSORS[t])
      throw new Error(`${name} is ${UNSUPPORTED_TENSORS[t]} (tensor '${t}' in ${SAE_WEIGHTS_FILE})`);
  const { d_in: D, d_sae: F } = cfg;
  const t = (tensor: string, shape: number[]) => {
    let e;
    try {
      e = expectTensor(decoded, tensor, 'F32', shape);
    } catch (err) {
      throw new SafetensorsError(`${(err as Error).message} in ${SAE_WEIGHTS_FILE} of ${name}`);
    }
    for (let i = 0; i < e.data.length; i++)
      if (!Number.isFinite(e.data[i]))
        throw new SafetensorsError(
          `tensor '${tensor}' holds ${e.data[i]} at index ${i} in ${SAE_WEIGHTS_FILE} of ${name}; SAE weights must all be finite`,
        );
    return e.data;
  };
  const has = (tensor: string) => tensor in decoded.tensors;
  const stray = ['threshold', 'log_threshold'].find(has);
  if (cfg.activation !== 'jumprelu' && stray)
    throw new Error(
      `${name} has a '${stray}' tensor in ${SAE_WEIGHTS_FILE}, but its ${SAE_CFG_FILE} describes a ${cfg.activation === 'relu' ? "'standard' (ReLU)" : 'TopK'} SAE: a JumpReLU SAE needs architecture 'jumprelu'`,
    );
  let threshold: Float32Array | undefined;
  if (cfg.activation === 'jumprelu') {
    if (!stray)
      throw new Error(
        `${name} is a JumpReLU SAE but ${SAE_WEIGHTS_FILE} holds neither 'threshold' nor 'log_threshold'`,
      );
    // SAELens's JumpReLU is relu(pre)·1[pre > θ] = pre·1[pre > max(θ, 0)]: θ is clamped at 0 so that one
    // step, z = pre·1[pre > θ], is the whole activation (the same function; codes stay ≥ 0).
    threshold = has('threshold')
      ? t('threshold', [F]).map((v) => Math.max(v, 0))
      : t('log_threshold', [F]).map((v) => Math.exp(v));
  } else if (cfg.activation === 'relu') threshold = new Float32Array(F); // relu(pre) = pre·1[pre > 0]
  return {
    cfg,
    weights: {
      wEnc: t('W_enc', [D, F]),
      bEnc: t('b_enc', [F]),
      wDec: t('W_dec', [F, D]),
      bDec: t('b_dec', [D]),
      ...(threshold ? { threshold } : {}),
    },
  };
}

/** Reads a SAELens folder, checking every tensor's shape against cfg.json (readSaeLensArrays), as tensors. */
export function readSaeLens(dir: string): { cfg: ReadSaeLensCfg; weights: SaeWeights } {
  const { cfg, weights: w } = readSaeLensArrays(dir);
  const { d_in: D, d_sae: F } = cfg;
  return {
    cfg,
    weights: {
      wEnc: tf.tensor2d(w.wEnc, [D, F]),
      bEnc: tf.tensor1d(w.bEnc),
      wDec: tf.tensor2d(w.wDec, [F, D]),
      bDec: tf.tensor1d(w.bDec),
      ...(w.threshold ? { threshold: tf.tensor1d(w.threshold) } : {}),
    },
  };
}

export function saeLensCfg(set: SaeSet, v: SaeView, meta: ExportMeta): SaeLensCfg {
  const layer = Number(/^blocks\.(\d+)\./.exec(v.hook)?.[1] ?? 0);
  const staircase = v.chunk ? set.groups.find((g) => g.hooks.includes(v.hook))!.name : null;
  const arch = set.spec.arch;
  const threshold = arch === 'relu' || arch === 'jumprelu';
  return {
    architecture: arch === 'relu' ? 'standard' : arch === 'jumprelu' ? 'jumprelu' : 'topk',
    d_in: v.dict.wEnc.shape[0],
    d_sae: v.width,
    k: v.k,
    hook_name: v.hook,
    hook_layer: layer,
    model_name: meta.modelName,
    dtype: 'float32',
    device: 'cpu',
    activation_fn_str: threshold ? 'relu' : 'topk',
    activation_fn_kwargs: threshold ? {} : { k: v.k },
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
export async function exportSaeSet(dir: string, set: SaeSet, meta: ExportMeta): Promise<string[]> {
  const written: string[] = [];
  for (const v of set.views) {
    const w = set.weights(v);
    try {
      await writeSaeLens(path.join(dir, hookFolder(v.hook)), saeLensCfg(set, v, meta), w);
    } finally {
      // The prefix slices of a staircase view; never the variables themselves.
      for (const t of Object.values(w)) if (!(t instanceof tf.Variable)) t.dispose();
    }
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
      writeSafetensorsFile(path.join(folder, STAIRCASE_FILE), await tensorInputs(tensors));
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
