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

/** Effects of decoder rows wDec [F, D] through `lm`'s unembedding; at most `n` tokens each way. */
export async function logitEffects(lm: Gpt, wDec: Float32Array, F: number, n: number): Promise<LogitEffects> {
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
  // Rows per chunk so one chunk's [C, V] effects stay near 4M floats.
  const C = Math.max(1, Math.min(F, Math.floor(4_000_000 / V)));
  for (let f0 = 0; f0 < F; f0 += C) {
    const c = Math.min(C, F - f0);
    const r = tidy(() => {
      const w = tf.tensor2d(wDec.subarray(f0 * D, (f0 + c) * D), [c, D]);
      const centred = tf.sub(w, tf.mean(w, 1, true));
      const scaled = tf.mul(centred, lm.params['ln_f.weight']);
      const eff = tf.matMul(scaled, lm.params['wte.weight'], false, true); // [c, V]
      const e = tf.sub(eff, tf.mean(eff, 1, true)) as tf.Tensor2D;
      const top = tf.topk(e, m, true);
      const bottom = tf.topk(tf.neg(e), m, true);
      return [top.indices, top.values, bottom.indices, tf.neg(bottom.values)];
    });
    const [topIds, topValues, bottomIds, bottomValues] = await Promise.all(r.map(readAndDispose));
    out.topIds.set(topIds, f0 * m);
    out.topValues.set(topValues, f0 * m);
    out.bottomIds.set(bottomIds, f0 * m);
    out.bottomValues.set(bottomValues, f0 * m);
  }
  return out;
}
