/**
 * Gradient accumulation (issue 12 item 4; step.ts): one optimizer step over A equal micro-batches hands AdamW the
 * gradient of the whole batch. Checked on the gradients the step passes to the optimizer (captured by a stand-in
 * optimizer), against (a) an independent float64 TopK SAE over the whole batch (sae.helpers.ts topkSae64, the
 * chain rule written out by hand) and (b) the single-batch step on the concatenated batch, for TopK, a staircase
 * (shared dictionary) and JSAE pairs in both penalty conventions (mean: averaged over tokens; sum: added up).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import type { AdamW } from '../../src-main/engine/optim.ts';
import { SaeSet } from '../../src-main/engine/sae/saeSet.ts';
import { saeTrainStep, type HookActs, type SaeStepContext } from '../../src-main/engine/sae/step.ts';
import { TestRng } from './lm.helpers.ts';
import { D, tinyLm } from './jsae.helpers.ts';
import { preActivations64, selectionMargin, topkSae64, toSae64 } from './sae.helpers.ts';

beforeAll(async () => {
  await initBackend();
});

const N = 24; // tokens in the whole batch
const F = 16;
const K = 3;

/** Runs one step; returns the gradients the optimizer received (by parameter name) and the step's figures. */
async function stepGrads(
  set: SaeSet,
  acts: HookActs | HookActs[],
  config: SaeStepContext['config'],
  lm = tinyLm('layernorm', 5),
) {
  const grads: Record<string, Float32Array> = {};
  const opt = {
    params: set.params(),
    apply: async (g: Record<string, tf.Tensor>) => {
      for (const [name, t] of Object.entries(g)) grads[name] = Float32Array.from(await t.data());
      return 0;
    },
  } as unknown as AdamW;
  // l0 of the micro-batch: active codes per token.
  const l0 = (val: ArrayLike<number>, k: number) =>
    Array.from(val).filter((v) => v > 0).length / (val.length / k);
  const stats = await saeTrainStep({ lm, set, opt, config }, acts, 1e-3, (_h, _i, val, k) => l0(val, k));
  return { grads, stats };
}

/** Random activations for every hook of the set, whole [N, D] and in `parts` consecutive micro-batches. */
function randomActs(set: SaeSet, parts: number, seed: number): { whole: HookActs; micro: HookActs[] } {
  const rng = new TestRng(seed);
  const data = Object.fromEntries(set.views.map((v) => [v.hook, rng.normals(N * D)]));
  const whole = Object.fromEntries(
    Object.entries(data).map(([h, x]) => [h, tf.tensor2d(x, [N, D])]),
  ) as HookActs;
  const m = N / parts;
  const micro = Array.from(
    { length: parts },
    (_, a) =>
      Object.fromEntries(
        Object.entries(data).map(([h, x]) => [
          h,
          tf.tensor2d(x.subarray(a * m * D, (a + 1) * m * D), [m, D]),
        ]),
      ) as HookActs,
  );
  return { whole, micro };
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Every gradient of `a` equals `b`'s to `rel` of the tensor's largest entry. */
function expectSameGrads(
  a: Record<string, ArrayLike<number>>,
  b: Record<string, ArrayLike<number>>,
  rel: number,
) {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const name of Object.keys(a)) {
    const scale = Math.max(maxAbs(b[name]), 1e-12);
    let worst = 0;
    for (let i = 0; i < a[name].length; i++) worst = Math.max(worst, Math.abs(a[name][i] - b[name][i]));
    expect(worst / scale, `${name}: max |Δ| / max |g| = ${worst / scale}`).toBeLessThan(rel);
  }
}

const dispose = (...xs: (HookActs | HookActs[])[]) =>
  tf.dispose(xs.flatMap((x) => (Array.isArray(x) ? x : [x])).flatMap((m) => Object.values(m)));

const topkConfig = {
  arch: 'topk' as const,
  lambda: 0,
  lambdaNorm: 'mean' as const,
  schedule: { gradClip: 1 },
};

describe('gradient accumulation', () => {
  it('TopK: 4 micro-batches give the float64 gradient of the whole batch, and the single-batch step', async () => {
    const set = new SaeSet({ arch: 'topk', setup: 'fflayer', width: F, k: K, dModel: D, nLayer: 1, seed: 2 });
    const { whole, micro } = randomActs(set, 4, 31);
    const acc = await stepGrads(set, micro, topkConfig);
    const one = await stepGrads(set, whole, topkConfig);

    // Independent: each SAE's loss mean_n Σ_d (x − x̂)² over all N tokens, in float64.
    const params = set.params();
    const ref: Record<string, Float64Array> = {};
    let refLoss = 0;
    for (const v of set.views) {
      const p = toSae64({
        wEnc: params[`${v.hook}.W_enc`].dataSync() as Float32Array,
        bEnc: v.bEnc.dataSync() as Float32Array,
        wDec: params[`${v.hook}.W_dec`].dataSync() as Float32Array,
        bDec: v.bDec.dataSync() as Float32Array,
      });
      const x = whole[v.hook].dataSync();
      expect(selectionMargin(preActivations64(x, D, F, p), F, K)).toBeGreaterThan(1e-4);
      const r = topkSae64(x, D, F, K, p);
      refLoss += r.loss;
      ref[`${v.hook}.W_enc`] = r.grads.wEnc;
      ref[`${v.hook}.W_dec`] = r.grads.wDec;
      ref[`${v.hook}.b_enc`] = r.grads.bEnc;
      ref[`${v.hook}.b_dec`] = r.grads.bDec;
    }
    expectSameGrads(acc.grads, ref, 1e-5);
    expectSameGrads(one.grads, ref, 1e-5);
    expectSameGrads(acc.grads, one.grads, 1e-6);
    expect(acc.stats.total).toBeCloseTo(refLoss, 4);
    expect(one.stats.total).toBeCloseTo(refLoss, 4);
    expect(acc.stats.l0).toBeCloseTo(one.stats.l0, 12);
    dispose(whole, micro);
    set.dispose();
  });

  it('staircase (one dictionary shared by a pair): 2 micro-batches = the single-batch step', async () => {
    const set = new SaeSet({
      arch: 'staircase',
      setup: 'ffblock',
      width: 8,
      k: K,
      dModel: D,
      nLayer: 1,
      seed: 4,
    });
    const { whole, micro } = randomActs(set, 2, 32);
    const acc = await stepGrads(set, micro, topkConfig);
    const one = await stepGrads(set, whole, topkConfig);
    expectSameGrads(acc.grads, one.grads, 1e-6);
    expect(acc.stats.total).toBeCloseTo(one.stats.total, 5);
    dispose(whole, micro);
    set.dispose();
  });

  for (const setup of ['fflayer', 'ffblock'] as const)
    for (const lambdaNorm of ['mean', 'sum'] as const)
      it(`JSAE ${setup}, λ ${lambdaNorm} over tokens: 3 micro-batches = the single-batch step`, async () => {
        const lm = tinyLm('layernorm', 9);
        const set = new SaeSet({ arch: 'jsae', setup, width: F, k: K, dModel: D, nLayer: 1, seed: 6 });
        // Acts at the downstream hook are the segment of the upstream ones (the penalty reads the MLP at x_up).
        const { whole, micro } = randomActs(set, 3, 33);
        const config = { arch: 'jsae' as const, lambda: 0.8, lambdaNorm, schedule: { gradClip: 1 } };
        const acc = await stepGrads(set, micro, config, lm);
        const one = await stepGrads(set, whole, config, lm);
        expect(one.stats.penalty).toBeGreaterThan(0);
        expectSameGrads(acc.grads, one.grads, 1e-5);
        const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
        expect(rel(acc.stats.penalty, one.stats.penalty)).toBeLessThan(1e-6);
        expect(rel(acc.stats.jacobianL1, one.stats.jacobianL1)).toBeLessThan(1e-6);
        expect(rel(acc.stats.total, one.stats.total)).toBeLessThan(1e-6);
        dispose(whole, micro);
        set.dispose();
        lm.dispose();
      });

  it('refuses micro-batches of different sizes (they would not add up to the whole batch)', async () => {
    const set = new SaeSet({ arch: 'topk', setup: 'fflayer', width: F, k: K, dModel: D, nLayer: 1, seed: 2 });
    const { micro } = randomActs(set, 4, 34);
    const short = Object.fromEntries(
      set.views.map((v) => [v.hook, tf.zeros([3, D]) as tf.Tensor2D]),
    ) as HookActs;
    const uneven: HookActs[] = [micro[0], short];
    await expect(stepGrads(set, uneven, topkConfig)).rejects.toThrow(
      'micro-batches must be equal in size to add up to the whole batch (got 6, 3)',
    );
    dispose(micro, short);
    set.dispose();
  });
});
