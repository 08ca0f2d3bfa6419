/**
 * Small GPT-2-shaped checkpoints written by the tests in the layout of the Hugging Face `gpt2` repository
 * (config.json with its HF keys, model.safetensors with Conv1D [in, out] matrices and the attention-bias buffers),
 * with random weights: what `--lm PATH` loads (SPEC §1.3: "tests use a tiny randomly initialised checkpoint").
 */
import fs from 'node:fs';
import path from 'node:path';

import {
  writeSafetensorsFile,
  type SafetensorsDtype,
  type TensorInput,
} from '../../src-main/engine/io/safetensors.ts';

export interface Shape {
  V: number;
  T: number;
  D: number;
  L: number;
  H: number;
  eps: number;
}

export type Weights = Record<string, { shape: number[]; data: Float32Array }>;

/** mulberry32 + Box–Muller */
export function rng(seed: number) {
  let s = seed >>> 0;
  const u = () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return (n: number, std: number, mean = 0) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++)
      out[i] = mean + std * Math.sqrt(-2 * Math.log(Math.max(u(), 1e-12))) * Math.cos(2 * Math.PI * u());
    return out;
  };
}

/** HF GPT-2 tensor names (without the `transformer.` prefix) and random values, MLP width 4·D. */
export function gpt2Weights(s: Shape, seed: number): Weights {
  const r = rng(seed);
  const w: Weights = {};
  const put = (name: string, shape: number[], std: number, mean = 0) =>
    (w[name] = {
      shape,
      data: r(
        shape.reduce((a, c) => a * c, 1),
        std,
        mean,
      ),
    });
  const { V, T, D, L } = s;
  put('wte.weight', [V, D], 0.3);
  put('wpe.weight', [T, D], 0.1);
  for (let l = 0; l < L; l++) {
    const h = `h.${l}`;
    put(`${h}.ln_1.weight`, [D], 0.1, 1);
    put(`${h}.ln_1.bias`, [D], 0.05);
    put(`${h}.attn.c_attn.weight`, [D, 3 * D], 0.2);
    put(`${h}.attn.c_attn.bias`, [3 * D], 0.05);
    put(`${h}.attn.c_proj.weight`, [D, D], 0.1);
    put(`${h}.attn.c_proj.bias`, [D], 0.05);
    put(`${h}.ln_2.weight`, [D], 0.1, 1);
    put(`${h}.ln_2.bias`, [D], 0.05);
    put(`${h}.mlp.c_fc.weight`, [D, 4 * D], 0.15);
    put(`${h}.mlp.c_fc.bias`, [4 * D], 0.05);
    put(`${h}.mlp.c_proj.weight`, [4 * D, D], 0.1);
    put(`${h}.mlp.c_proj.bias`, [D], 0.05);
  }
  put('ln_f.weight', [D], 0.1, 1);
  put('ln_f.bias', [D], 0.05);
  return w;
}

export function hfConfig(s: Shape): Record<string, unknown> {
  return {
    activation_function: 'gelu_new',
    architectures: ['GPT2LMHeadModel'],
    attn_pdrop: 0.1,
    bos_token_id: 50256,
    embd_pdrop: 0.1,
    eos_token_id: 50256,
    initializer_range: 0.02,
    layer_norm_epsilon: s.eps,
    model_type: 'gpt2',
    n_ctx: s.T,
    n_embd: s.D,
    n_head: s.H,
    n_inner: null,
    n_layer: s.L,
    n_positions: s.T,
    resid_pdrop: 0.1,
    scale_attn_weights: true,
    summary_type: 'cls_index',
    tie_word_embeddings: true,
    vocab_size: s.V,
  };
}

export interface WriteOptions {
  dtype?: SafetensorsDtype;
  prefix?: string;
  lmHead?: boolean;
  config?: Record<string, unknown>;
  edit?: (tensors: Record<string, TensorInput>) => void;
}

/** Writes a GPT-2 folder as the HF `gpt2` repository lays it out (attention-bias buffers included). */
export function writeGpt2Folder(dir: string, s: Shape, w: Weights, o: WriteOptions = {}): string {
  fs.mkdirSync(dir, { recursive: true });
  const dtype = o.dtype ?? 'F32';
  const prefix = o.prefix ?? '';
  const tensors: Record<string, TensorInput> = {};
  for (const [name, t] of Object.entries(w)) tensors[prefix + name] = { dtype, shape: t.shape, data: t.data };
  const mask = new Float32Array(s.T * s.T);
  for (let i = 0; i < s.T; i++) for (let j = 0; j <= i; j++) mask[i * s.T + j] = 1;
  for (let l = 0; l < s.L; l++) {
    tensors[`${prefix}h.${l}.attn.bias`] = { dtype: 'F32', shape: [1, 1, s.T, s.T], data: mask };
    tensors[`${prefix}h.${l}.attn.masked_bias`] = { dtype: 'F32', shape: [], data: Float32Array.of(-1e4) };
  }
  if (o.lmHead) tensors['lm_head.weight'] = { ...tensors[`${prefix}wte.weight`] };
  o.edit?.(tensors);
  writeSafetensorsFile(path.join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(o.config ?? hfConfig(s), null, 2));
  return dir;
}
