/**
 * evaluateSaeSet (SPEC §3.4) on hand-built SAEs whose metrics are known in closed form, and on a random
 * staircase against a float64 re-computation: the LM is only used to produce activations and logits (its
 * forward pass is tested elsewhere); every expected number here is computed in plain JS from those.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import type { Gpt } from '../../src-main/engine/lm/gpt.ts';
import { evaluateSaeSet, reconstruct } from '../../src-main/engine/sae/metrics.ts';
import { SaeSet, type SaeView } from '../../src-main/engine/sae/saeSet.ts';
import type { Batch } from '../../src-main/engine/text/index.ts';
import { TestRng, xent64 } from './lm.helpers.ts';
import {
  preActivations64,
  randomBatches,
  selectionMargin,
  stableTopk,
  tinyGpt,
  topkSae64,
} from './sae.helpers.ts';

const D = 8;
const V = 128;
const HOOKS = ['blocks.0.hook_resid_pre', 'blocks.0.hook_resid_post'];
let gpt: Gpt;
let batches: Batch[];

beforeAll(async () => {
  await initBackend();
  // Embeddings of std 1 so that replacing an activation visibly changes the next-token distribution.
  gpt = tinyGpt({ dModel: D, nLayer: 1, contextLength: 8, embedStd: 1, seed: 4 });
  batches = randomBatches(new TestRng(8), 2, 3, 8);
});

afterAll(() => gpt.dispose());

const isZero = (v: number) => v === 0; // also accepts −0

/** Clean activations at `hook` over all batches, flat [n·D], and the token count n. */
function activations(hook: string): { x: Float32Array; n: number } {
  const parts = batches.map((b) =>
    tf.tidy(() => {
      const { cache } = gpt.run({
        tokens: tf.tensor2d(b.inputs, [b.batchSize, b.contextLength], 'int32'),
        capture: [hook],
      });
      const data = cache[hook].dataSync() as Float32Array;
      cache[hook].dispose();
      return data;
    }),
  );
  const x = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    x.set(p, o);
    o += p.length;
  }
  return { x, n: x.length / D };
}

/** Logits [B·T·V] of one batch, optionally with a hook replaced. */
function logits(b: Batch, patch?: Record<string, (x: tf.Tensor3D) => tf.Tensor3D>): Float32Array {
  return tf.tidy(
    () =>
      gpt
        .run({ tokens: tf.tensor2d(b.inputs, [b.batchSize, b.contextLength], 'int32'), patch })
        .logits!.dataSync() as Float32Array,
  );
}

/** Mean over tokens of KL(P‖Q) from logits, in float64. */
function kl64(p: ArrayLike<number>, q: ArrayLike<number>): number {
  const rows = p.length / V;
  const logSoftmax = (a: ArrayLike<number>, r: number) => {
    const row = Array.from({ length: V }, (_, i) => a[r * V + i]);
    const mx = Math.max(...row);
    const lse = mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0));
    return row.map((v) => v - lse);
  };
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const lp = logSoftmax(p, r);
    const lq = logSoftmax(q, r);
    for (let i = 0; i < V; i++) total += Math.exp(lp[i]) * (lp[i] - lq[i]);
  }
  return total / rows;
}

/** W_enc = [I, −I], W_dec = [I; −I], zero biases, k = D: x = relu(x) − relu(−x) is reconstructed exactly. */
function makeExact(v: SaeView): void {
  const wEnc = new Float32Array(D * 2 * D);
  const wDec = new Float32Array(2 * D * D);
  for (let d = 0; d < D; d++) {
    wEnc[d * 2 * D + d] = 1;
    wEnc[d * 2 * D + D + d] = -1;
    wDec[d * D + d] = 1;
    wDec[(D + d) * D + d] = -1;
  }
  v.dict.wEnc.assign(tf.tensor2d(wEnc, [D, 2 * D]));
  v.dict.wDec.assign(tf.tensor2d(wDec, [2 * D, D]));
  v.bEnc.assign(tf.zeros([2 * D]));
  v.bDec.assign(tf.zeros([D]));
}

const topkSet = () =>
  new SaeSet({ arch: 'topk', setup: 'tblock', width: 2 * D, k: D, dModel: D, nLayer: 1, seed: 0 });

describe('an exact SAE: x = relu(x) − relu(−x) with F = 2D, k = D', () => {
  it('mse 0, explained variance 1, CE increase 0, KL 0, l0 = non-zero coordinates per token', async () => {
    const set = topkSet();
    expect(set.views.map((v) => v.hook)).toEqual(HOOKS);
    set.views.forEach(makeExact);
    const ev = await evaluateSaeSet(gpt, set, batches);
    // clean CE: mean over batches of the float64 cross-entropy of the logits.
    const clean = batches.reduce((a, b) => a + xent64(logits(b), V, b.targets), 0) / batches.length;
    expect(ev.clean_ce).toBeCloseTo(clean, 5);
    for (const s of ev.saes) {
      const { x, n } = activations(s.hook);
      // For each coordinate exactly one of relu(x_d), relu(−x_d) is positive unless x_d = 0: at most D
      // positive codes, so top-D keeps them all and x̂ = Σ_d (relu(x_d) − relu(−x_d)) e_d = x, bit for bit.
      const nonZero = x.reduce((a, v) => a + (v !== 0 ? 1 : 0), 0);
      expect(s.d_sae).toBe(2 * D);
      expect(isZero(s.mse)).toBe(true);
      expect(s.explained_variance).toBe(1);
      expect(s.l0).toBe(nonZero / n);
      expect(s.l0).toBe(D); // no activation coordinate of this model is exactly 0
      // Splicing x̂ = x changes nothing downstream.
      expect(isZero(s.ce_loss_increase)).toBe(true);
      expect(isZero(s.kl_div)).toBe(true);
      expect(s.l0_per_chunk).toBeNull();
    }
    expect(isZero(ev.compound_ce_loss_increase)).toBe(true);
    expect(isZero(ev.compound_kl_div)).toBe(true);
    // reconstruct() on a [B, T, D] tensor is the identity too.
    const { x } = activations(HOOKS[1]);
    const xr = tf.tidy(() =>
      reconstruct(set, set.views[1], tf.tensor3d(x, [x.length / (8 * D), 8, D])).dataSync(),
    );
    expect(Array.from(xr)).toEqual(Array.from(x));
    set.dispose();
  });
});

describe('a zero dictionary with b_dec = the pooled mean activation', () => {
  it('explained variance 0 (up to the float32 rounding of the mean), mse = total variance, CE of a mean-ablation', async () => {
    const set = topkSet();
    const [a, b] = set.views;
    makeExact(b); // the second SAE reconstructs exactly, so compound = the first SAE's numbers
    const { x, n } = activations(a.hook);
    const mean64 = new Float64Array(D);
    for (let t = 0; t < x.length; t++) mean64[t % D] += x[t] / n;
    const mean32 = Float32Array.from(mean64);
    // W_dec = 0: x̂ = b_dec whatever the codes. W_enc and b_enc random, so l0 is a non-trivial count.
    const rng = new TestRng(31);
    const wEnc = rng.normals(D * 2 * D);
    const bEnc = rng.normals(2 * D, 0.5);
    a.dict.wEnc.assign(tf.tensor2d(wEnc, [D, 2 * D]));
    a.dict.wDec.assign(tf.zeros([2 * D, D]));
    a.bEnc.assign(tf.tensor1d(bEnc));
    a.bDec.assign(tf.tensor1d(mean32));
    const ev = await evaluateSaeSet(gpt, set, batches);
    const s = ev.saes[0];

    // Σ_n ‖x_n − m‖² with m the float32 mean, and Σ_n ‖x_n − x̄‖² with the exact mean: EV = 1 − ratio ≈ 0.
    let errSq = 0;
    let totalVar = 0;
    for (let t = 0; t < x.length; t++) {
      errSq += (x[t] - mean32[t % D]) ** 2;
      totalVar += (x[t] - mean64[t % D]) ** 2;
    }
    expect(s.mse).toBeCloseTo(errSq / n, 5);
    expect(Math.abs(s.mse - errSq / n) / (errSq / n)).toBeLessThan(1e-5);
    expect(Math.abs(s.explained_variance - (1 - errSq / totalVar))).toBeLessThan(1e-5);
    expect(Math.abs(s.explained_variance)).toBeLessThan(1e-5);

    // l0: tokens' positive pre-activations (x − m)·W_enc + b_enc, capped at k = D, in float64.
    const p64 = {
      wEnc: Float64Array.from(wEnc),
      bEnc: Float64Array.from(bEnc),
      wDec: new Float64Array(2 * D * D),
      bDec: Float64Array.from(mean32),
    };
    const raw = preActivations64(x, D, 2 * D, p64);
    expect(selectionMargin(raw, 2 * D, D)).toBeGreaterThan(1e-4);
    let active = 0;
    for (let t = 0; t < n; t++)
      active += Math.min(D, raw.subarray(t * 2 * D, (t + 1) * 2 * D).filter((v) => v > 0).length);
    expect(s.l0).toBe(active / n);
    expect(s.l0).toBeGreaterThan(0);

    // CE increase and KL of the mean-ablation, from logits with the hook replaced by the mean.
    const ablate = {
      [a.hook]: (h: tf.Tensor3D) => tf.broadcastTo(tf.tensor1d(mean32), h.shape) as tf.Tensor3D,
    };
    let ce = 0;
    let kl = 0;
    for (const bt of batches) {
      const clean = logits(bt);
      const abl = logits(bt, ablate);
      ce += (xent64(abl, V, bt.targets) - xent64(clean, V, bt.targets)) / batches.length;
      kl += kl64(clean, abl) / batches.length;
    }
    expect(Math.abs(ce)).toBeGreaterThan(1e-3); // the ablation matters for this model
    expect(s.ce_loss_increase).toBeCloseTo(ce, 5);
    expect(s.kl_div).toBeCloseTo(kl, 5);
    expect(kl).toBeGreaterThan(1e-3);

    // The other SAE is exact, so splicing both is splicing the first: compound equals its per-SAE values.
    expect(isZero(ev.saes[1].ce_loss_increase)).toBe(true);
    expect(ev.compound_ce_loss_increase).toBe(s.ce_loss_increase);
    expect(ev.compound_kl_div).toBe(s.kl_div);
    set.dispose();
  });
});

describe('a random staircase', () => {
  it('l0_per_chunk counts active latents per chunk (rows sum to l0); mse and EV match a float64 SAE', async () => {
    const n = 8;
    const k = 4;
    const set = new SaeSet({
      arch: 'staircase',
      setup: 'tblock',
      width: n,
      k,
      dModel: D,
      nLayer: 1,
      seed: 2,
    });
    const rng = new TestRng(12);
    for (const v of set.views) {
      v.bEnc.assign(tf.tensor1d(rng.normals(v.width, 0.3)));
      v.bDec.assign(tf.tensor1d(rng.normals(D, 0.3)));
    }
    const ev = await evaluateSaeSet(gpt, set, batches);
    const full = { enc: set.dictionaries[0].wEnc.dataSync(), dec: set.dictionaries[0].wDec.dataSync() };
    ev.saes.forEach((s, p) => {
      const v = set.views[p];
      const F = n * (p + 1);
      expect(s.d_sae).toBe(F);
      // The view's parameters in float64: the first F latents of the [D, 2n] / [2n, D] dictionary.
      const w = {
        wEnc: Float64Array.from({ length: D * F }, (_, i) => full.enc[Math.floor(i / F) * 2 * n + (i % F)]),
        bEnc: Float64Array.from(v.bEnc.dataSync()),
        wDec: Float64Array.from(full.dec.subarray(0, F * D)),
        bDec: Float64Array.from(v.bDec.dataSync()),
      };
      const { x, n: tokens } = activations(s.hook);
      const raw = preActivations64(x, D, F, w);
      expect(selectionMargin(raw, F, k)).toBeGreaterThan(1e-5);
      const chunks = new Array<number>(p + 1).fill(0);
      let l0 = 0;
      for (let t = 0; t < tokens; t++) {
        const { idx, val } = stableTopk(
          Array.from(raw.subarray(t * F, (t + 1) * F), (u) => Math.max(u, 0)),
          k,
        );
        idx.forEach((i, j) => {
          if (val[j] > 0) {
            chunks[Math.floor(i / n)]++;
            l0++;
          }
        });
      }
      expect(s.l0_per_chunk).toHaveLength(p + 1);
      expect(s.l0_per_chunk!.reduce((a2, c) => a2 + c, 0)).toBeCloseTo(s.l0, 12);
      expect(s.l0).toBe(l0 / tokens);
      s.l0_per_chunk!.forEach((c, i) => expect(c).toBe(chunks[i] / tokens));
      // mse and explained variance from the float64 SAE's reconstruction.
      const ref = topkSae64(x, D, F, k, w);
      const mean = new Float64Array(D);
      for (let t = 0; t < x.length; t++) mean[t % D] += x[t] / tokens;
      let err = 0;
      let tv = 0;
      for (let t = 0; t < x.length; t++) {
        err += (x[t] - ref.xhat[t]) ** 2;
        tv += (x[t] - mean[t % D]) ** 2;
      }
      expect(Math.abs(s.mse - err / tokens) / (err / tokens)).toBeLessThan(1e-5);
      // (the float64 SAE's loss is the same mean over tokens of Σ_d (x − x̂)²)
      expect(Math.abs(ref.loss - err / tokens) / ref.loss).toBeLessThan(1e-12);
      expect(Math.abs(s.explained_variance - (1 - err / tv))).toBeLessThan(1e-5 * (err / tv));
    });
    set.dispose();
  });
});
