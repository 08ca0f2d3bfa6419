/**
 * Importing SAEs in the SAELens layout as a run's SaeSet: a folder holding one SAELens folder per hook of a
 * complete setup (what `scalar export` writes, or SAELens itself). Our own exports carry their architecture in
 * cfg.json's `scalar` block; foreign SAEs are read by their SAELens architecture (readSaeLensCfg): `standard`
 * → arch `relu`, `jumprelu` → arch `jumprelu` (with its threshold), `topk` → arch `topk`.
 *
 * `inspectSaeLensSet` reads only the cfg.json files (cheap, run before a job exists, so mistakes are refused
 * without touching the store); `loadSaeLensSet` reads the weights into a SaeSet. Staircase positions are
 * slices of one shared dictionary: every latent must have the same encoder column and decoder row in every
 * position that has it, or the folders are refused.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import type { GptConfig } from '../../../src-shared/lm.ts';
import {
  SAE_ARCHS,
  SAE_SETUPS,
  type SaeArch,
  type SaeSetup,
  type SaeStructure,
} from '../../../src-shared/sae.ts';
import { setupPositions } from '../sae/positions.ts';
import { SaeSet, type SaeView } from '../sae/saeSet.ts';
import { readSaeLensArrays, readSaeLensCfg, SAE_CFG_FILE, SAE_WEIGHTS_FILE } from './saelens.ts';

export interface SaeLensSetInfo extends Omit<SaeStructure, 'lm' | 'seed'> {
  /** Folder (absolute) of each hook's SAE. */
  folders: Record<string, string>;
}

type LmShape = Pick<GptConfig, 'dModel' | 'nLayer'>;

/**
 * The names of a hook's position: TransformerLens names one residual position twice (blocks.L.hook_resid_post is
 * blocks.(L+1).hook_resid_pre). Which one a setup uses depends on the setup (tblock: resid_pre except after the
 * last block; ffblock: resid_post).
 */
export function hookAliases(hook: string, nLayer: number): string[] {
  const post = /^blocks\.(\d+)\.hook_resid_post$/.exec(hook);
  if (post && Number(post[1]) < nLayer - 1) return [hook, `blocks.${Number(post[1]) + 1}.hook_resid_pre`];
  const pre = /^blocks\.(\d+)\.hook_resid_pre$/.exec(hook);
  if (pre && Number(pre[1]) > 0) return [hook, `blocks.${Number(pre[1]) - 1}.hook_resid_post`];
  return [hook];
}

/** The setup whose hooks the SAEs sit at, each SAE's folder under the setup's own hook name, or null. */
function matchSetup(
  saes: { dir: string; hook: string }[],
  nLayer: number,
): { setup: SaeSetup; folders: Record<string, string> } | null {
  for (const setup of SAE_SETUPS) {
    const expected = setupPositions(setup, nLayer).hooks;
    if (expected.length !== saes.length) continue;
    const folders: Record<string, string> = {};
    for (const { dir, hook } of saes) {
      const name = hookAliases(hook, nLayer).find((h) => expected.includes(h));
      if (!name) break;
      if (folders[name]) throw new Error(`two SAEs for ${name}: ${folders[name]} and ${dir}`);
      folders[name] = dir;
    }
    if (Object.keys(folders).length === expected.length) return { setup, folders };
  }
  return null;
}

/** The raw cfg.json of a folder, or null when it is not JSON of an object (readSaeLensCfg says why). */
function rawCfg(dir: string): Record<string, unknown> | null {
  try {
    const raw = JSON.parse(fs.readFileSync(path.join(dir, SAE_CFG_FILE), 'utf8')) as unknown;
    return raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** What the folders under `source` hold, checked against the language model; throws a specific error if unusable. */
export function inspectSaeLensSet(source: string, lm: LmShape): SaeLensSetInfo {
  if (!fs.existsSync(source) || !fs.statSync(source).isDirectory())
    throw new Error(`${source} is not a folder`);
  const hasCfg = (dir: string) => fs.existsSync(path.join(dir, SAE_CFG_FILE));
  const subdirs = hasCfg(source)
    ? []
    : fs
        .readdirSync(source, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => path.join(source, e.name));
  // A folder with weights but no cfg.json is a broken SAE, not something to skip.
  for (const dir of subdirs)
    if (!hasCfg(dir) && fs.existsSync(path.join(dir, SAE_WEIGHTS_FILE)))
      throw new Error(`${path.basename(dir)} has ${SAE_WEIGHTS_FILE} but no ${SAE_CFG_FILE}`);
  const candidates = hasCfg(source) ? [source] : subdirs.filter(hasCfg);
  const saes = candidates
    // The shared form of a staircase (staircase.safetensors) is redundant with its per-position folders.
    .filter((dir) => rawCfg(dir)?.architecture !== 'staircase')
    .map((dir) => ({ dir, cfg: readSaeLensCfg(dir) }));
  if (saes.length === 0)
    throw new Error(`${source} holds no SAELens folders (sub-folders with ${SAE_CFG_FILE})`);

  for (const { dir, cfg } of saes) {
    const where = `${SAE_CFG_FILE} of ${path.basename(dir)}`;
    if (cfg.d_in !== lm.dModel)
      throw new Error(`${where}: d_in ${cfg.d_in} does not match the language model's d_model ${lm.dModel}`);
    // Every other SAELens normalisation rescales the input by a factor the folder does not hold (estimated
    // from data at load time, or per token), so the SAE's function cannot be reproduced from its files.
    if (cfg.normalize_activations && cfg.normalize_activations !== 'none')
      throw new Error(
        `${where}: normalize_activations '${cfg.normalize_activations}' cannot be honoured (it rescales the input by a factor the folder does not store); only 'none' SAEs can be imported`,
      );
    if (cfg.hook_head_index !== null && cfg.hook_head_index !== undefined)
      throw new Error(`${where}: per-head SAEs (hook_head_index) are not supported`);
  }
  const hooks = saes.map((s) => s.cfg.hook_name);
  const twice = hooks.find((h, i) => hooks.indexOf(h) !== i);
  if (twice) {
    const dirs = saes.filter((s) => s.cfg.hook_name === twice).map((s) => path.basename(s.dir));
    throw new Error(`two SAEs for ${twice}: ${dirs.join(' and ')}`);
  }
  const matched = matchSetup(
    saes.map((s) => ({ dir: s.dir, hook: s.cfg.hook_name })),
    lm.nLayer,
  );
  if (!matched) {
    const sets = SAE_SETUPS.map((s) => `${s}: ${setupPositions(s, lm.nLayer).hooks.join(', ')}`);
    throw new Error(
      `the SAEs in ${source} (${hooks.sort().join(', ')}) are not one complete setup of this ${lm.nLayer}-layer model; expected exactly the hooks of one of\n  ${sets.join('\n  ')}`,
    );
  }
  const { setup, folders } = matched;

  const ours = saes.map((s) => s.cfg.scalar).filter((x) => x !== undefined);
  const archs = new Set(ours.map((x) => x.arch));
  if (archs.size > 1 || (ours.length > 0 && ours.length < saes.length))
    throw new Error(
      `the SAEs in ${source} come from different runs (architectures ${[...archs].join(', ')})`,
    );
  // Foreign SAEs: one run holds one activation (SAELens standard → relu, jumprelu, topk).
  const foreign = new Set(saes.map((s) => s.cfg.activation));
  if (!ours.length && foreign.size > 1)
    throw new Error(
      `the SAEs in ${source} mix activations (${saes.map((s) => `${path.basename(s.dir)}: ${s.cfg.activation}`).join(', ')}); one run holds one architecture`,
    );
  const arch: SaeArch = ours.length ? (ours[0].arch as SaeArch) : [...foreign][0];
  if (!(SAE_ARCHS as readonly string[]).includes(arch))
    throw new Error(`unknown architecture '${arch}' in ${source}`);

  // ReLU / JumpReLU SAEs have no k: readSaeLensCfg gives k = d_sae (the most latents that can be active).
  const ks = new Set(saes.map((s) => s.cfg.k ?? s.cfg.activation_fn_kwargs?.k));
  if (ks.size !== 1 || typeof [...ks][0] !== 'number')
    throw new Error(
      `the SAEs in ${source} need one TopK k (found ${[...ks].sort((a, b) => Number(a) - Number(b)).join(', ')})`,
    );
  const k = [...ks][0] as number;

  // Width: d_sae of a TopK / JSAE SAE; the chunk n of a staircase (position p has n·(p+1) latents).
  const widths = new Set(
    saes.map((s) => (arch.startsWith('staircase') ? s.cfg.scalar?.staircase?.chunk : s.cfg.d_sae)),
  );
  if (widths.size !== 1 || typeof [...widths][0] !== 'number')
    throw new Error(
      `the SAEs in ${source} need one ${arch.startsWith('staircase') ? 'staircase chunk' : 'd_sae'} (found ${[...widths].sort((a, b) => Number(a) - Number(b)).join(', ')})`,
    );
  return { arch, setup, width: [...widths][0] as number, k, folders };
}

/**
 * The SAEs of an inspected folder as a SaeSet. SAELens's `apply_b_dec_to_input: false` encodes x·W_enc + b_enc;
 * ours subtracts b_dec first, so such an SAE's encoder bias becomes b_enc + b_dec·W_enc (the same pre-activations).
 */
export function loadSaeLensSet(info: SaeLensSetInfo, lm: LmShape): SaeSet {
  const set = new SaeSet({ ...info, dModel: lm.dModel, nLayer: lm.nLayer, seed: 0 });
  try {
    const D = lm.dModel;
    // Host copies of every dictionary, filled view by view; `from[j]` = the hook that supplied latent j.
    const dicts = new Map(
      set.dictionaries.map((d) => {
        const N = d.wDec.shape[0];
        return [
          d,
          { wEnc: new Float32Array(D * N), wDec: new Float32Array(N * D), from: new Array<string>(N) },
        ];
      }),
    );
    const biases = new Map<tf.Variable, { values: Float32Array; hook: string }>();
    const setBias = (v: tf.Variable, values: Float32Array, hook: string, what: string) => {
      const seen = biases.get(v);
      if (seen && !sameValues(seen.values, values))
        throw new Error(
          `${hook} and ${seen.hook} should share ${what} (${info.arch}) but their values differ`,
        );
      biases.set(v, { values, hook });
    };
    for (const view of set.views) {
      const dir = info.folders[view.hook];
      // Host arrays straight from the file (no tensors: nothing to read back, on any backend).
      const { cfg, weights } = readSaeLensArrays(dir);
      if (cfg.d_sae !== view.width)
        throw new Error(
          `${dir}: d_sae ${cfg.d_sae}, but ${info.arch} position ${view.position} at ${view.hook} has ${view.width} latents`,
        );
      const { wEnc, wDec, bDec } = weights; // [D, w], [w, D], [D]
      let bEnc = weights.bEnc;
      if ((cfg as { apply_b_dec_to_input?: boolean }).apply_b_dec_to_input === false)
        bEnc = foldDecoderBias(bEnc, bDec, wEnc, view.width);
      copyLatents(dicts.get(view.dict)!, view, wEnc, wDec, D);
      setBias(view.bEnc, bEnc, view.hook, 'b_enc');
      setBias(view.bDec, bDec, view.hook, 'b_dec');
      if (view.threshold) {
        if (!weights.threshold) throw new Error(`${dir}: a ${info.arch} SAE needs a threshold`);
        setBias(view.threshold, weights.threshold, view.hook, 'threshold');
      }
    }
    for (const [d, host] of dicts) {
      const N = host.from.length;
      tf.tidy(() => {
        d.wEnc.assign(tf.tensor2d(host.wEnc, [D, N]));
        d.wDec.assign(tf.tensor2d(host.wDec, [N, D]));
      });
    }
    for (const [v, b] of biases) tf.tidy(() => v.assign(tf.tensor1d(b.values)));
    return set;
  } catch (err) {
    set.dispose();
    throw err;
  }
}

/** Writes a view's latents into its dictionary's host copy; a latent another position already gave must agree. */
function copyLatents(
  host: { wEnc: Float32Array; wDec: Float32Array; from: string[] },
  view: SaeView,
  wEnc: Float32Array,
  wDec: Float32Array,
  D: number,
): void {
  const N = host.from.length;
  const w = view.width;
  for (let j = 0; j < w; j++) {
    const other = host.from[j];
    for (let d = 0; d < D; d++) {
      const enc = wEnc[d * w + j];
      const dec = wDec[j * D + d];
      if (other !== undefined && (host.wEnc[d * N + j] !== enc || host.wDec[j * D + d] !== dec))
        throw new Error(
          `latent ${j} of ${view.hook} differs from latent ${j} of ${other}: these folders are not slices of one ${view.dict.name} dictionary`,
        );
      host.wEnc[d * N + j] = enc;
      host.wDec[j * D + d] = dec;
    }
    host.from[j] ??= view.hook;
  }
}

/** b_enc + b_dec·W_enc (W_enc [D, F] row-major). */
export function foldDecoderBias(
  bEnc: Float32Array,
  bDec: Float32Array,
  wEnc: Float32Array,
  F: number,
): Float32Array {
  const out = Float32Array.from(bEnc);
  for (let d = 0; d < bDec.length; d++) for (let j = 0; j < F; j++) out[j] += bDec[d] * wEnc[d * F + j];
  return out;
}

function sameValues(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Everything loadSaeLensSet would refuse, checked on plain arrays (no tfjs, nothing built): every folder's
 * cfg.json and weights (readSaeLensArrays: header, dtypes, shapes, finite values), each SAE's width against the
 * architecture's structure, and for staircases that the positions are slices of one shared dictionary.
 */
export function checkSaeLensSet(info: SaeLensSetInfo, lm: LmShape): void {
  const { hooks, pairs } = setupPositions(info.setup, lm.nLayer);
  const n = info.width;
  const staircase = info.arch.startsWith('staircase');
  const groups = !staircase
    ? hooks.map((h) => [h])
    : info.setup === 'tblock'
      ? [hooks]
      : pairs.map((p) => [p.up, p.down]);
  for (const group of groups) {
    const P = group.length;
    let prev: { hook: string; w: number; wEnc: Float32Array; wDec: Float32Array; bDec: Float32Array } | null =
      null;
    group.forEach((hook, p) => {
      const dir = info.folders[hook];
      const { cfg, weights } = readSaeLensArrays(dir);
      const w = !staircase ? n : info.arch === 'staircase-tied-all' ? n * P : n * (p + 1);
      if (cfg.d_sae !== w)
        throw new Error(
          `${SAE_CFG_FILE} of ${path.basename(dir)}: d_sae ${cfg.d_sae}, but ${info.arch} position ${p} at ${hook} has ${w} latents`,
        );
      if (prev && info.arch !== 'staircase-untied') {
        const D = lm.dModel;
        const shared = Math.min(prev.w, w);
        for (let j = 0; j < shared; j++)
          for (let d = 0; d < D; d++)
            if (
              weights.wEnc[d * w + j] !== prev.wEnc[d * prev.w + j] ||
              weights.wDec[j * D + d] !== prev.wDec[j * D + d]
            )
              throw new Error(
                `latent ${j} of ${hook} differs from latent ${j} of ${prev.hook}: these folders are not slices of one ${info.arch} dictionary`,
              );
        if (info.arch === 'staircase-shared-bias' && !sameValues(weights.bDec, prev.bDec))
          throw new Error(
            `${hook} and ${prev.hook} should share b_dec (${info.arch}) but their values differ`,
          );
      }
      prev = { hook, w, wEnc: weights.wEnc, wDec: weights.wDec, bDec: weights.bDec };
    });
  }
}
