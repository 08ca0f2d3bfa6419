/**
 * Test helpers for the SAE engine: a plain-JS stable top-k, a float64 TopK SAE (forward, loss and analytic
 * gradients, SPEC §3.1) written without tfjs, and tiny language models / batches for the metric tests. Nothing
 * here calls the code under test.
 */
import * as tf from '@tensorflow/tfjs';
import { GptConfigSchema } from '../../src-shared/lm.ts';
import { Gpt } from '../../src-main/engine/lm/gpt.ts';
import type { Batch } from '../../src-main/engine/text/index.ts';
import { TestRng } from './lm.helpers.ts';

/**
 * The k largest entries of `row` by value, descending, lower index first among equal values (an explicit
 * comparator, so the result does not depend on the sort being stable).
 */
export function stableTopk(row: ArrayLike<number>, k: number): { idx: number[]; val: number[] } {
  const order = Array.from({ length: row.length }, (_, i) => i).sort((a, b) =>
    row[a] !== row[b] ? row[b] - row[a] : a - b,
  );
  const idx = order.slice(0, k);
  return { idx, val: idx.map((i) => row[i]) };
}

/** Float64 TopK SAE parameters, row-major: wEnc [D, F], bEnc [F], wDec [F, D], bDec [D]. */
export interface Sae64 {
  wEnc: Float64Array;
  bEnc: Float64Array;
  wDec: Float64Array;
  bDec: Float64Array;
}

export const toSae64 = (p: {
  wEnc: ArrayLike<number>;
  bEnc: ArrayLike<number>;
  wDec: ArrayLike<number>;
  bDec: ArrayLike<number>;
}): Sae64 => ({
  wEnc: Float64Array.from(p.wEnc),
  bEnc: Float64Array.from(p.bEnc),
  wDec: Float64Array.from(p.wDec),
  bDec: Float64Array.from(p.bDec),
});

/** Raw encoder pre-activations (x − b_dec) W_enc + b_enc, before the ReLU, [N, F]. */
export function preActivations64(x: ArrayLike<number>, D: number, F: number, p: Sae64): Float64Array {
  const N = x.length / D;
  const out = new Float64Array(N * F);
  for (let n = 0; n < N; n++) {
    for (let f = 0; f < F; f++) {
      let s = p.bEnc[f];
      for (let d = 0; d < D; d++) s += (x[n * D + d] - p.bDec[d]) * p.wEnc[d * F + f];
      out[n * F + f] = s;
    }
  }
  return out;
}

export interface TopkSae64Result {
  /** mean_n Σ_d (x − x̂)² */
  loss: number;
  /** Selected latents per token (k each, value-descending, lower index first among ties). */
  idx: number[][];
  xhat: Float64Array;
  /** Analytic gradients of `loss` (mask constant, ReLU'(0) = 0), dictionary rows < detachBelow zeroed. */
  grads: Sae64;
}

/**
 * The TopK SAE in float64, one token at a time: pre = relu(raw), z = the k largest of pre, x̂ = z W_dec + b_dec.
 * Gradients by the chain rule written out by hand (e = 2(x̂ − x)/N; dW_dec[i] = z_i e; dz_i = W_dec[i]·e;
 * for z_i > 0: db_enc[i] = dz_i, dW_enc[:, i] = dz_i (x − b_dec); db_dec = Σ e − Σ dz_i W_enc[:, i]).
 */
export function topkSae64(
  x: ArrayLike<number>,
  D: number,
  F: number,
  k: number,
  p: Sae64,
  detachBelow = 0,
): TopkSae64Result {
  const N = x.length / D;
  const raw = preActivations64(x, D, F, p);
  const g: Sae64 = {
    wEnc: new Float64Array(D * F),
    bEnc: new Float64Array(F),
    wDec: new Float64Array(F * D),
    bDec: new Float64Array(D),
  };
  const xhat = new Float64Array(N * D);
  const idxAll: number[][] = [];
  let loss = 0;
  for (let n = 0; n < N; n++) {
    const pre = Array.from(raw.subarray(n * F, (n + 1) * F), (v) => Math.max(v, 0));
    const { idx, val } = stableTopk(pre, k);
    idxAll.push(idx);
    const e = new Float64Array(D);
    for (let d = 0; d < D; d++) {
      let s = p.bDec[d];
      for (let j = 0; j < k; j++) s += val[j] * p.wDec[idx[j] * D + d];
      xhat[n * D + d] = s;
      loss += (x[n * D + d] - s) ** 2 / N;
      e[d] = (2 * (s - x[n * D + d])) / N;
      g.bDec[d] += e[d];
    }
    for (let j = 0; j < k; j++) {
      const i = idx[j];
      if (!(val[j] > 0)) continue;
      let dz = 0;
      for (let d = 0; d < D; d++) {
        dz += p.wDec[i * D + d] * e[d];
        if (i >= detachBelow) g.wDec[i * D + d] += val[j] * e[d];
      }
      g.bEnc[i] += dz;
      for (let d = 0; d < D; d++) {
        if (i >= detachBelow) g.wEnc[d * F + i] += dz * (x[n * D + d] - p.bDec[d]);
        g.bDec[d] -= dz * p.wEnc[d * F + i];
      }
    }
  }
  return { loss, idx: idxAll, xhat, grads: g };
}

/**
 * Smallest distance of the top-k decision from flipping under a perturbation: over all tokens, the gap
 * between the k-th and (k+1)-th ReLU'd values when the k-th is positive, and |raw| of every pre-activation
 * (the ReLU kink). Finite differences and float32-vs-float64 comparisons are meaningful only well above it.
 */
export function selectionMargin(raw: Float64Array, F: number, k: number): number {
  let margin = Infinity;
  for (const v of raw) margin = Math.min(margin, Math.abs(v));
  for (let n = 0; n < raw.length / F; n++) {
    const pre = Array.from(raw.subarray(n * F, (n + 1) * F), (v) => Math.max(v, 0)).sort((a, b) => b - a);
    if (k < F && pre[k - 1] > 0) margin = Math.min(margin, pre[k - 1] - pre[k]);
  }
  return margin;
}

/** Dense x̂ = z W_dec + b_dec from sparse codes (float64 loops). */
export function decode64(
  idx: ArrayLike<number>,
  val: ArrayLike<number>,
  k: number,
  wDec: ArrayLike<number>,
  D: number,
  bDec: ArrayLike<number>,
): Float64Array {
  const N = idx.length / k;
  const out = new Float64Array(N * D);
  for (let n = 0; n < N; n++) {
    for (let d = 0; d < D; d++) {
      let s = bDec[d];
      for (let j = 0; j < k; j++) s += val[n * k + j] * wDec[idx[n * k + j] * D + d];
      out[n * D + d] = s;
    }
  }
  return out;
}

/** Random float32-exact parameters for a TopK SAE of width F on D-dimensional inputs. */
export function randomSae(rng: TestRng, D: number, F: number, biasStd = 0.1) {
  return {
    wEnc: rng.normals(D * F, 1 / Math.sqrt(D)),
    bEnc: rng.normals(F, biasStd),
    wDec: rng.normals(F * D, 1 / Math.sqrt(D)),
    bDec: rng.normals(D, biasStd),
  };
}

/** An untrained GPT over the ASCII vocabulary; `embedStd` > 0.02 makes the logits depend visibly on the input. */
export function tinyGpt(
  opts: { dModel?: number; nLayer?: number; contextLength?: number; seed?: number; embedStd?: number } = {},
): Gpt {
  const D = opts.dModel ?? 8;
  const gpt = Gpt.init(
    GptConfigSchema.parse({
      vocabSize: 128,
      contextLength: opts.contextLength ?? 8,
      dModel: D,
      nLayer: opts.nLayer ?? 1,
      nHead: 2,
      dMlp: 4 * D,
    }),
    opts.seed ?? 1,
  );
  if (opts.embedStd) {
    const rng = new TestRng((opts.seed ?? 1) + 100);
    const wte = gpt.params['wte.weight'];
    wte.assign(tf.tensor(rng.normals(wte.size, opts.embedStd), wte.shape));
  }
  return gpt;
}

/** `count` batches of random tokens (targets random too: only the metrics' arithmetic is under test). */
export function randomBatches(
  rng: TestRng,
  count: number,
  batchSize: number,
  contextLength: number,
): Batch[] {
  return Array.from({ length: count }, () => ({
    inputs: rng.ints(batchSize * contextLength, 128),
    targets: rng.ints(batchSize * contextLength, 128),
    starts: new Int32Array(batchSize),
    batchSize,
    contextLength,
  }));
}
