/**
 * The plain SCALAR algorithms, exactly as SPEC §4.2–§4.3 state them: one backward pass per downstream latent
 * per α point (attribution) and one segment pass per distinct kept set (ablation). They are the reference
 * every faster computation is tested against, and they run any pair on any backend.
 */
import * as tf from '@tensorflow/tfjs';
import { tidy } from '../backend.ts';
import { densify, topk } from '../sae/topk.ts';
import type { CleanPass, PairModel } from './pair.ts';
import { groupByKeptSet, keptSets } from './ranking.ts';

export interface AttributionOptions {
  /** Integration points α_s = s/(S−1), s = 0..S−1. */
  steps: number;
  /** `reference`: c = ‖z₀‖₂/S for every i (published numbers); `textbook`: c = z₀ᵢ/S (completeness holds). */
  scaling: 'reference' | 'textbook';
  /** The one point when S = 1, where s/(S−1) is undefined: 1 (default, the input itself) or 0 (the reference). */
  singleStepAlpha?: 0 | 1;
}

/**
 * α_s = s/(S−1). S = 1 has no such point: `single` chooses it, 1 (the gradient at z₀ itself, our default) or 0
 * (the reference code's linspace(0, 1, 1), the gradient at the zero baseline).
 */
export function integrationPoint(s: number, S: number, single: 0 | 1 = 1): number {
  return S === 1 ? single : s / (S - 1);
}

/**
 * Σ over the batch of G_j[b,t,i]² for every (i, j), accumulated into sumSq [F₀·F₁] (edge e = i·F₁ + j);
 * A = sqrt(sumSq) once every batch is in.
 */
export function accumulateAttributionPlain(
  pm: PairModel,
  clean: CleanPass,
  opts: AttributionOptions,
  sumSq: Float64Array,
): void {
  const { f0, f1 } = pm;
  const [B, T] = clean.tokens.shape;
  const S = opts.steps;
  const z0 = tidy(() => densify(pm.upCodes(clean), f0).reshape([B, T, f0]) as tf.Tensor3D);
  const scale = tidy(() =>
    opts.scaling === 'reference' ? tf.div(tf.norm(z0, 'euclidean', -1, true), S) : tf.div(z0, S),
  );
  const f = (z: tf.Tensor3D) => pm.preDown(pm.segment(pm.decodeUpDense(z)));
  // Active downstream latents at each point (ReLU + TopK; for a ReLU / JumpReLU SAE₁ the step 1[pre > θ₁],
  // dense), as a constant mask [B, T, F₁].
  const theta = pm.down.w.threshold;
  const masks = Array.from({ length: S }, (_, s) =>
    tidy(() => {
      const alpha = integrationPoint(s, S, opts.singleStepAlpha);
      if (theta) return tf.cast(tf.greater(f(tf.mul(z0, alpha) as tf.Tensor3D), theta), 'float32');
      const codes = topk(
        tf.relu(f(tf.mul(z0, alpha) as tf.Tensor3D)).reshape([B * T, f1]) as tf.Tensor2D,
        pm.down.k,
      );
      const active = { idx: codes.idx, val: tf.cast(tf.greater(codes.val, 0), 'float32') as tf.Tensor2D };
      return densify(active, f1).reshape([B, T, f1]);
    }),
  );
  for (let j = 0; j < f1; j++) {
    const g = tidy(() => {
      let sum: tf.Tensor = tf.zerosLike(z0);
      for (let s = 0; s < S; s++) {
        const alpha = integrationPoint(s, S, opts.singleStepAlpha);
        const seed = masks[s].slice([0, 0, j], [B, T, 1]);
        const grad = tf.grad((z: tf.Tensor) =>
          tf.sum(tf.mul(f(z as tf.Tensor3D).slice([0, 0, j], [B, T, 1]), seed)),
        )(tf.mul(z0, alpha));
        sum = tf.add(sum, grad);
      }
      return tf.sum(tf.square(tf.mul(sum, scale)), [0, 1]).dataSync(); // [F₀]
    });
    for (let i = 0; i < f0; i++) sumSq[i * f1 + j] += g[i];
  }
  tf.dispose([z0, scale, ...masks]);
}

export interface SubcircuitOptions {
  /**
   * Apply a ReLU before the final TopK (the reference selects TopK of raw pre-activations). A ReLU / JumpReLU
   * SAE₁ applies its own activation R·1[R > θ₁] instead, which is ≥ 0 already.
   */
  relu: boolean;
}

/** Logits of the subcircuit keeping the top-N edges of `ranking` (SPEC §4.3, plain grouped algorithm). */
export function subcircuitLogitsPlain(
  pm: PairModel,
  clean: CleanPass,
  ranking: Int32Array,
  n: number,
  opts: SubcircuitOptions,
): tf.Tensor3D {
  const { f0, f1 } = pm;
  const [B, T] = clean.tokens.shape;
  return tidy(() => {
    const z0 = densify(pm.upCodes(clean), f0).reshape([B, T, f0]) as tf.Tensor3D;
    const r = new Float32Array(B * T * f1); // latents with no kept edge stay exactly 0
    for (const { upstream, downstream } of groupByKeptSet(keptSets(ranking, n, f1))) {
      const keep = new Float32Array(f0);
      for (const i of upstream) keep[i] = 1;
      const pre = tidy(() =>
        pm.preDown(pm.segment(pm.decodeUpDense(tf.mul(z0, tf.tensor1d(keep)) as tf.Tensor3D))).dataSync(),
      );
      for (let t = 0; t < B * T; t++) for (const j of downstream) r[t * f1 + j] = pre[t * f1 + j];
    }
    const R = tf.tensor2d(r, [B * T, f1]);
    const theta = pm.down.w.threshold;
    if (theta) {
      // Dense: Z₁ = R·1[R > θ₁], x̂₁ = Z₁ W_dec₁ + b_dec₁ (no sparse codes, whatever the active count).
      const z1 = tf.mul(R, tf.cast(tf.greater(R, theta), 'float32'));
      const x1 = tf.add(tf.matMul(z1, pm.down.w.wDec), pm.down.w.bDec).reshape([B, T, pm.D]);
      return pm.logitsFrom(x1 as tf.Tensor3D, clean);
    }
    const codes = topk(opts.relu ? (tf.relu(R) as tf.Tensor2D) : R, pm.down.k);
    return pm.logitsFrom(pm.decodeDown(codes, B, T), clean);
  });
}
