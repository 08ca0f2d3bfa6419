/**
 * SAELens folders in the exact file layouts of the public GPT-2 Small releases, written by the tests (tiny sizes),
 * and the float64 activation they define (written from SAELens's formulas, not from the importer):
 *
 *   jb       gpt2-small-res-jb (jbloom/GPT2-Small-SAEs-Reformatted): the training-config cfg.json — no
 *            `architecture`, `hook_point`, `hook_point_layer`, `hook_point_head_index`, dtype "torch.float32",
 *            b_dec_init_method, expansion_factor, l1_coefficient, … — a standard (ReLU) SAE; SAELens subtracts
 *            b_dec from the input (apply_b_dec_to_input defaults to true).
 *   v5       SAELens ≤ 5 `save_model`: `architecture` "standard" | "jumprelu", hook_name, hook_layer,
 *            hook_head_index, activation_fn_str "relu", activation_fn_kwargs {}, apply_b_dec_to_input,
 *            normalize_activations "none", dtype "float32", model_name, context_size, prepend_bos, dataset_path.
 *   v6       SAELens 6: `architecture` "topk" with `k`, hook names under `metadata`.
 * Tensors (sae_weights.safetensors): W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in], and
 * for JumpReLU `threshold` [d_sae] (or `log_threshold` in SAELens training checkpoints).
 *
 * SAELens: standard z = relu(pre); jumprelu z = relu(pre)·1[pre > threshold]; topk z = TopK_k(relu(pre));
 * pre = (x − b_dec·apply_b_dec_to_input) W_enc + b_enc.
 */
import fs from 'node:fs';
import path from 'node:path';
import { encodeSafetensors, type TensorInput } from '../../src-main/engine/io/safetensors.ts';
import { TestRng } from './lm.helpers.ts';

export type Layout = 'jb' | 'v5-standard' | 'v5-jumprelu' | 'v6-topk';

export interface ForeignSae {
  D: number;
  F: number;
  wEnc: Float32Array;
  bEnc: Float32Array;
  wDec: Float32Array;
  bDec: Float32Array;
  /** JumpReLU only (may hold negative values: SAELens's relu makes them act as 0). */
  threshold: Float32Array | null;
  applyBDec: boolean;
}

export function randomForeign(
  D: number,
  F: number,
  seed: number,
  jump: boolean,
  applyBDec = true,
): ForeignSae {
  const r = new TestRng(seed);
  return {
    D,
    F,
    wEnc: Float32Array.from(r.normals(D * F, 0.5)),
    bEnc: Float32Array.from(r.normals(F, 0.3)),
    wDec: Float32Array.from(r.normals(F * D, 0.3)),
    bDec: Float32Array.from(r.normals(D, 0.1)),
    // Thresholds in [−0.1, 0.4): some negative (clamped by the relu), most above 0.
    threshold: jump ? Float32Array.from({ length: F }, (_, j) => ((j * 37) % 50) / 100 - 0.1) : null,
    applyBDec,
  };
}

/** The cfg.json of one layout for one hook. */
export function cfgFor(layout: Layout, hook: string, s: ForeignSae, k = 3): Record<string, unknown> {
  const layer = Number(/^blocks\.(\d+)/.exec(hook)?.[1] ?? 0);
  if (layout === 'jb')
    return {
      model_name: 'gpt2-small',
      hook_point: hook,
      hook_point_layer: layer,
      hook_point_head_index: null,
      dataset_path: 'Skylion007/openwebtext',
      is_dataset_tokenized: false,
      context_size: 128,
      use_cached_activations: false,
      d_in: s.D,
      n_batches_in_buffer: 128,
      total_training_tokens: 300000000,
      store_batch_size: 32,
      device: 'mps',
      seed: 42,
      dtype: 'torch.float32',
      b_dec_init_method: 'geometric_median',
      expansion_factor: s.F / s.D,
      from_pretrained_path: null,
      l1_coefficient: 8e-5,
      lr: 0.0004,
      lr_scheduler_name: null,
      lr_warm_up_steps: 5000,
      train_batch_size: 4096,
      use_ghost_grads: false,
      feature_sampling_window: 1000,
      dead_feature_window: 5000,
      dead_feature_threshold: 1e-8,
      d_sae: s.F,
      tokens_per_buffer: 67108864,
      run_name: `${s.F}-L1-8e-05-LR-0.0004-Tokens-3.000e+08`,
    };
  if (layout === 'v6-topk')
    return {
      architecture: 'topk',
      d_in: s.D,
      d_sae: s.F,
      dtype: 'float32',
      device: 'cpu',
      apply_b_dec_to_input: s.applyBDec,
      normalize_activations: 'none',
      reshape_activations: 'none',
      k,
      metadata: {
        model_name: 'gpt2-small',
        hook_name: hook,
        hook_head_index: null,
        prepend_bos: true,
        dataset_path: 'Skylion007/openwebtext',
        context_size: 128,
      },
    };
  return {
    architecture: layout === 'v5-jumprelu' ? 'jumprelu' : 'standard',
    d_in: s.D,
    d_sae: s.F,
    dtype: 'float32',
    device: 'cpu',
    model_name: 'gpt2-small',
    hook_name: hook,
    hook_layer: layer,
    hook_head_index: null,
    activation_fn_str: 'relu',
    activation_fn_kwargs: {},
    apply_b_dec_to_input: s.applyBDec,
    finetuning_scaling_factor: false,
    sae_lens_training_version: '3.13.0',
    prepend_bos: true,
    dataset_path: 'Skylion007/openwebtext',
    dataset_trust_remote_code: true,
    context_size: 128,
    normalize_activations: 'none',
  };
}

export function tensorsFor(s: ForeignSae, thresholdName = 'threshold'): Record<string, TensorInput> {
  const t: Record<string, TensorInput> = {
    W_enc: { dtype: 'F32', shape: [s.D, s.F], data: s.wEnc },
    b_enc: { dtype: 'F32', shape: [s.F], data: s.bEnc },
    W_dec: { dtype: 'F32', shape: [s.F, s.D], data: s.wDec },
    b_dec: { dtype: 'F32', shape: [s.D], data: s.bDec },
  };
  if (s.threshold) {
    const data =
      thresholdName === 'log_threshold' ? s.threshold.map((v) => Math.log(Math.max(v, 1e-3))) : s.threshold;
    t[thresholdName] = { dtype: 'F32', shape: [s.F], data };
  }
  return t;
}

/** Writes one folder per hook under `root` (folder name = hook, as the releases name their sae_ids). */
export function writeForeignSet(
  root: string,
  layout: Layout,
  saes: Record<string, ForeignSae>,
  opts: { thresholdName?: string; cfg?: (c: Record<string, unknown>) => Record<string, unknown> } = {},
): string {
  for (const [hook, s] of Object.entries(saes)) {
    const dir = path.join(root, hook);
    fs.mkdirSync(dir, { recursive: true });
    const cfg = cfgFor(layout, hook, s);
    fs.writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify(opts.cfg ? opts.cfg(cfg) : cfg, null, 2));
    fs.writeFileSync(
      path.join(dir, 'sae_weights.safetensors'),
      encodeSafetensors(tensorsFor(s, opts.thresholdName)),
    );
  }
  return root;
}

/** SAELens's activation in float64: dense codes [N, F] of x [N, D] (k: TopK; threshold: JumpReLU; else ReLU). */
export function foreignCodes64(s: ForeignSae, x: ArrayLike<number>, k?: number): Float64Array {
  const { D, F } = s;
  const N = x.length / D;
  const z = new Float64Array(N * F);
  for (let n = 0; n < N; n++) {
    const pre = new Float64Array(F);
    for (let j = 0; j < F; j++) {
      let a = s.bEnc[j];
      for (let d = 0; d < D; d++) a += (x[n * D + d] - (s.applyBDec ? s.bDec[d] : 0)) * s.wEnc[d * F + j];
      pre[j] = a;
    }
    const relu = pre.map((v) => Math.max(v, 0));
    if (k !== undefined) {
      const order = Array.from(relu.keys()).sort((a, b) => relu[b] - relu[a] || a - b);
      for (const j of order.slice(0, k)) z[n * F + j] = relu[j];
    } else for (let j = 0; j < F; j++) z[n * F + j] = s.threshold && !(pre[j] > s.threshold[j]) ? 0 : relu[j];
  }
  return z;
}
