/**
 * Direct logit effects of SAE latents (SPEC §5): a latent's decoder row w = W_dec[f] read as a direction
 * written into the residual stream, pushed through the unembedding path logits = LN_f(h) · wteᵀ along the direct
 * path only (later blocks ignored), with LN_f linearised as TransformerLens folds it:
 *
 *   effect[v] = Σ_d (w_d − mean(w)) · γ_d · wte[v, d],   then centred over the vocabulary (effect − mean_v)
 *
 * (LN_f subtracts the mean of its input; its scale 1/σ is a positive per-token factor that changes no ordering;
 * β adds the same logit shift for every latent and is dropped). Meaningful only where the SAE's space *is* the
 * residual stream or is added to it unchanged: `hook_resid_pre/mid/post`, `hook_mlp_out`, `hook_attn_out`.
 * At `ln2.hook_normalized` (the MLP input after LayerNorm) a decoder row is never added to the residual stream,
 * so there is no direct path to the logits and none is reported.
 */
import * as tf from '@tensorflow/tfjs';
import { readAndDispose, tidy } from '../backend.ts';
import { matMul, transpose2d } from '../kernels/ops.ts';
import type { Gpt } from '../lm/gpt.ts';

const RESIDUAL = /^blocks\.\d+\.(hook_resid_pre|hook_resid_mid|hook_resid_post|hook_mlp_out|hook_attn_out)$/;

/** Whether direct logit effects mean something at `hook`, and the sentence the latent page shows. */
export function logitEffectsAt(hook: string): { available: boolean; note: string } {
  if (RESIDUAL.test(hook)) {
    const writes = /hook_(mlp|attn)_out$/.test(hook);
    return {
      available: true,
      note:
        `Direct effect of the decoder direction on the logits through LN_f and the unembedding` +
        (writes ? ' (this output is added to the residual stream)' : '') +
        '; later blocks are ignored. Values are centred over the vocabulary.',
    };
  }
  return {
    available: false,
    note:
      `${hook} is not the residual stream: its decoder directions are never added to the residual stream ` +
      '(they live after a normalisation or inside the MLP), so they have no direct path to the logits.',
  };
}

export interface LogitEffects {
  /** Per latent, the n largest and n smallest effects: ids/values [F, n], strongest first. */
  topIds: Int32Array;
  topValues: Float32Array;
  bottomIds: Int32Array;
  bottomValues: Float32Array;
  n: number;
}

/**
 * Effects of decoder rows wDec [F, D] through `lm`'s unembedding; at most `n` tokens each way. The [F, V] matrix
 * is never held (at GPT-2 size, 24,576 × 50,257 floats is 4.9 GB): latents go in row blocks of about 4M effects,
 * each block's top and bottom n per row picked in one scan (`rowExtremes`). Centring over the vocabulary is folded
 * into the unembedding once — e[v] − mean_v e = Σ_d c_d γ_d (wte[v, d] − mean_v wte[·, d]) — so a block costs one
 * matMul ([c, D] × [D, V], the SIMD kernel where it is registered) and one pass over its values.
 */
export async function logitEffects(
  lm: Gpt,
  wDec: Float32Array,
  F: number,
  n: number,
  opts: { blockRows?: number; onBlock?: (done: number, total: number) => void } = {},
): Promise<LogitEffects> {
  const D = lm.config.dModel;
  const V = lm.config.vocabSize;
  const m = Math.min(n, V);
  const out: LogitEffects = {
    topIds: new Int32Array(F * m),
    topValues: new Float32Array(F * m),
    bottomIds: new Int32Array(F * m),
    bottomValues: new Float32Array(F * m),
    n: m,
  };
  if (m === 0 || F === 0) return out;
  const C = Math.max(1, Math.min(F, opts.blockRows ?? Math.floor(4_000_000 / V)));
  // [D, V]: γ ⊙ (wte − its mean over the vocabulary), transposed.
  const unembed = tidy(() => {
    const wte = lm.params['wte.weight'];
    const centred = tf.sub(wte, tf.mean(wte, 0, true));
    return transpose2d(tf.mul(centred, tf.reshape(lm.params['ln_f.weight'], [1, D])) as tf.Tensor2D);
  });
  try {
    for (let f0 = 0; f0 < F; f0 += C) {
      const c = Math.min(C, F - f0);
      const e = tidy(() => {
        const w = tf.tensor2d(wDec.subarray(f0 * D, (f0 + c) * D), [c, D]);
        return matMul(tf.sub(w, tf.mean(w, 1, true)) as tf.Tensor2D, unembed);
      });
      const values = (await readAndDispose(e)) as Float32Array;
      rowExtremes(values, c, V, m, out, f0);
      opts.onBlock?.(f0 + c, F);
    }
  } finally {
    unembed.dispose();
  }
  return out;
}

/**
 * Per row of values [rows, V]: the m largest (descending) and m smallest (ascending) with their columns, written
 * at row `f0 + r` of `out`. Ties keep the lower column first (as a stable sort would).
 */
export function rowExtremes(
  values: Float32Array,
  rows: number,
  V: number,
  m: number,
  out: LogitEffects,
  f0 = 0,
) {
  const topV = new Float32Array(m);
  const topI = new Int32Array(m);
  const botV = new Float32Array(m);
  const botI = new Int32Array(m);
  for (let r = 0; r < rows; r++) {
    const base = r * V;
    let filled = 0;
    for (let v = 0; v < V; v++) {
      const x = values[base + v];
      if (filled < m) {
        // The first m columns, kept sorted both ways.
        insert(topV, topI, filled, x, v, (a, b) => a > b);
        insert(botV, botI, filled, x, v, (a, b) => a < b);
        filled++;
        continue;
      }
      if (x > topV[m - 1]) insert(topV, topI, m - 1, x, v, (a, b) => a > b);
      if (x < botV[m - 1]) insert(botV, botI, m - 1, x, v, (a, b) => a < b);
    }
    const at = (f0 + r) * m;
    out.topIds.set(topI, at);
    out.topValues.set(topV, at);
    out.bottomIds.set(botI, at);
    out.bottomValues.set(botV, at);
  }
}

/** Puts (x, v) into the sorted prefix [0, len] of vals/ids, dropping whatever was at index `len`. */
function insert(
  vals: Float32Array,
  ids: Int32Array,
  len: number,
  x: number,
  v: number,
  before: (a: number, b: number) => boolean,
) {
  let i = len;
  while (i > 0 && before(x, vals[i - 1])) {
    vals[i] = vals[i - 1];
    ids[i] = ids[i - 1];
    i--;
  }
  vals[i] = x;
  ids[i] = v;
}
