/**
 * The sparse SCALAR path against today's dense one on toy pairs (issue 12 item 5): edge scores over the active
 * edge set (pass 0 + the quadratic / textbook forms) equal the dense finish bit for bit; the low-rank form equals
 * it up to float32 rounding; the streamed top-K ranking (zero-score tail included) is rankByScore's prefix; the
 * chunked, key-walking ablation gives SubcircuitEvaluator's logits — for TopK, ReLU and JumpReLU SAEs.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import { findActiveSets } from '../../src-main/engine/scalar/activeSets.ts';
import { SubcircuitEvaluator } from '../../src-main/engine/scalar/ablation.ts';
import { ChunkSubcircuit } from '../../src-main/engine/scalar/ablationSparse.ts';
import { attributionBatchFast, finishAttribution } from '../../src-main/engine/scalar/attribution.ts';
import { planSparseAttribution, sparseAttribution } from '../../src-main/engine/scalar/attributionSparse.ts';
import { hostThresholdCodes } from '../../src-main/engine/scalar/hostCodes.ts';
import { MemoryBudget, MemoryBoundError } from '../../src-main/engine/scalar/memory.ts';
import { compactCodes, thresholdCodes } from '../../src-main/engine/sae/topk.ts';
import { PairModel } from '../../src-main/engine/scalar/pair.ts';
import { PairPool } from '../../src-main/engine/scalar/pairPool.ts';
import type { AttributionOptions } from '../../src-main/engine/scalar/plain.ts';
import { randomRanking, rankByScore } from '../../src-main/engine/scalar/ranking.ts';
import {
  KeptIndex,
  rankedFromSelection,
  TopEdgeSelector,
} from '../../src-main/engine/scalar/sparseRanking.ts';
import { maxRelDiff, TestRng } from './lm.helpers.ts';
import { randomPair, randomTokens } from './scalar.helpers.ts';

beforeAll(async () => {
  await initBackend();
});

const T = 6;

/** A random pair; `act: 'relu' | 'jumprelu'` gives both SAEs a threshold (0, or random positive). */
function pairFor(
  setup: 'ffblock' | 'fflayer' | 'tblock',
  act: 'topk' | 'relu' | 'jumprelu' = 'topk',
  norm2: 'layernorm' | 'dyt' = 'layernorm',
) {
  const r = randomPair({ setup, width: 24, k: 3, seed: 8, norm2 });
  if (act === 'topk') return r;
  const rng = new TestRng(19);
  const side = (s: PairModel['up']) => ({
    w: {
      ...s.w,
      // Shifted encoder biases keep a handful of latents active per token.
      bEnc: tf.sub(s.w.bEnc, 0.3) as tf.Tensor1D,
      threshold: tf.tensor1d(
        Array.from({ length: s.w.wDec.shape[0] }, () => (act === 'relu' ? 0 : 0.1 * rng.uniform())),
      ),
    },
    k: s.w.wDec.shape[0],
  });
  return { ...r, pm: new PairModel(r.lm, r.pm.pair, side(r.pm.up), side(r.pm.down)) };
}

/** Dense scores (today's path: one attributionBatchFast per batch of sequences, float64 sum, finish). */
async function denseScores(pm: PairModel, batches: tf.Tensor2D[], opts: AttributionOptions) {
  let summed: Float64Array | null = null;
  for (const tokens of batches) {
    const part = await attributionBatchFast(pm, pm.clean(tokens), opts);
    summed ??= new Float64Array(part.length);
    for (let e = 0; e < part.length; e++) summed[e] += part[e];
  }
  return finishAttribution(pm, summed!, opts.scaling);
}

/** Sparse scores as a dense array (zeros outside the blocks). */
async function sparseScores(
  pm: PairModel,
  batches: tf.Tensor2D[],
  opts: AttributionOptions,
  form: 'quadratic' | 'low-rank',
  boundMb = 512,
) {
  const B = batches[0].shape[0];
  const data = new Int32Array(batches.length * B * T);
  for (const [q, t] of batches.entries()) data.set(t.dataSync(), q * B * T);
  const budget = MemoryBudget.mb(boundMb);
  // The low-rank finish splits the upstream latents over both threads: exercise the worker there.
  const pool = await PairPool.start(pm, form === 'low-rank');
  const act = await findActiveSets(pm, data, T, B, opts, budget);
  const plan = planSparseAttribution(pm, act, { ...opts, form }, B * T, budget);
  const dense = new Float32Array(pm.f0 * pm.f1);
  await sparseAttribution(
    pm,
    act,
    plan,
    opts,
    (rows, cols, scores) => {
      const R = rows ?? Int32Array.from({ length: pm.f0 }, (_, i) => i);
      R.forEach((i, r) => cols.forEach((j, c) => (dense[i * pm.f1 + j] = scores[r * cols.length + c])));
    },
    budget,
    pool,
  );
  await pool.close();
  return { dense, act, plan, budget };
}

describe('sparse edge scores', () => {
  for (const setup of ['ffblock', 'fflayer', 'tblock'] as const)
    for (const act of ['topk', 'relu', 'jumprelu'] as const)
      for (const scaling of ['reference', 'textbook'] as const) {
        if (setup === 'tblock' && act !== 'topk') continue;
        it(`${setup} ${act} ${scaling}: active set only, the dense scores`, async () => {
          const { pm } = pairFor(setup, act);
          const batches = [randomTokens(3, 2, T), randomTokens(4, 2, T)];
          const opts = { steps: 3, scaling };
          const dense = await denseScores(pm, batches, opts);
          const sparse = await sparseScores(pm, batches, opts, 'quadratic');
          expect(sparse.plan.form).toBe(scaling === 'textbook' ? 'textbook' : 'quadratic');
          // Some columns (and, for textbook, rows) are never active: the sparse pass never touched them.
          expect(sparse.act.down.length).toBeLessThan(pm.f1);
          expect(dense.filter((v) => v > 0).length).toBeGreaterThan(20);
          expect(Array.from(sparse.dense)).toEqual(Array.from(dense));
          expect(sparse.budget.used).toBe(sparse.act.batches.length > 0 ? sparse.budget.used : 0);
        });
      }

  for (const [setup, norm2] of [
    ['ffblock', 'layernorm'],
    ['ffblock', 'dyt'],
    ['fflayer', 'layernorm'],
  ] as const)
    it(`${setup} (${norm2}): the low-rank form equals the quadratic one up to float32 rounding`, async () => {
      const { pm } = pairFor(setup, 'topk', norm2);
      const batches = [randomTokens(5, 3, T)];
      const opts = { steps: 4, scaling: 'reference' as const };
      const dense = await denseScores(pm, batches, opts);
      const low = await sparseScores(pm, batches, opts, 'low-rank');
      expect(low.plan.form).toBe('low-rank');
      expect(maxRelDiff(low.dense, dense)).toBeLessThan(1e-5);
    });

  it('column blocks under a tight bound: several passes, the same scores', async () => {
    const { pm } = pairFor('ffblock');
    const batches = [randomTokens(6, 2, T)];
    const opts = { steps: 2, scaling: 'reference' as const };
    const dense = await denseScores(pm, batches, opts);
    // 60 KB: the batch's temporaries, pass-0 codes, encoder tables and a few [D, D] moments per block.
    const tight = await sparseScores(pm, batches, opts, 'quadratic', 0.06);
    expect(tight.plan.blocks.length).toBeGreaterThan(1);
    expect(Array.from(tight.dense)).toEqual(Array.from(dense));
    expect(tight.budget.peak).toBeLessThanOrEqual(tight.budget.boundBytes);
  });
});

describe('host threshold codes and the memory account', () => {
  it('ReLU / JumpReLU codes without sorting all F: thresholdCodes cut to the largest active count', async () => {
    const rng = new TestRng(4);
    const [N, F] = [9, 40];
    // Ties among active values, values at the threshold, rows with nothing active.
    const pre = Float32Array.from({ length: N * F }, (_, q) =>
      Math.floor(q / F) === 3 ? -1 : Math.round((rng.uniform() - 0.6) * 8) / 4,
    );
    const theta = Float32Array.from({ length: F }, (_, f) => (f % 3 === 0 ? 0 : 0.25));
    const dense = thresholdCodes(tf.tensor2d(pre, [N, F]), tf.tensor1d(theta));
    const cut = compactCodes(
      (await dense.idx.data()) as Int32Array,
      (await dense.val.data()) as Float32Array,
      N,
    );
    const host = hostThresholdCodes(pre, theta, N, F);
    expect(host.width).toBe(cut.idx.length / N);
    expect(Array.from(host.val)).toEqual(Array.from(cut.val, (v) => v + 0)); // −0 padding reads as 0
    // Active slots name the same latents; padding slots (value 0) are inactive wherever codes are read.
    host.idx.forEach((i, q) => host.val[q] > 0 && expect(i).toBe(cut.idx[q]));
  });

  it('MemoryBudget: reservations, the peak, and a refusal that names what did not fit', async () => {
    const b = new MemoryBudget(1000);
    b.reserve('a', 600);
    await b.with('b', 300, () => expect(b.used).toBe(900));
    expect(b.used).toBe(600);
    expect(b.peak).toBe(900);
    expect(() => b.reserve('big thing', 500)).toThrow(MemoryBoundError);
    expect(() => b.reserve('big thing', 500)).toThrow(
      /big thing needs 0 MB but only 0 MB .* \(held: a 0 MB\)/,
    );
    expect(b.largestCount('sequence', 100, 50)).toBe(4);
    expect(() => b.largestCount('sequence', 500, 50)).toThrow(/one sequence needs/);
  });
});

describe('streamed ranking', () => {
  it('the top-K selector and zero-score tail give rankByScore’s prefix (ties and zeros included)', () => {
    const rng = new TestRng(2);
    const E = 3000;
    // Many exact ties and zeros.
    const scores = Float32Array.from({ length: E }, () =>
      rng.uniform() < 0.4 ? 0 : Math.floor(rng.uniform() * 50) / 7,
    );
    const dense = rankByScore(scores, 9);
    for (const K of [1, 10, 700, 1799, 1800, 2500, E]) {
      const sel = new TopEdgeSelector(K);
      // Streamed in an arbitrary block order.
      for (let e = E - 1; e >= 0; e--) sel.add(e, scores[e]);
      const r = rankedFromSelection(sel.finish(), sel.positive, E, K, 9);
      expect(Array.from(r.ranking), `K = ${K}`).toEqual(Array.from(dense.subarray(0, K)));
      expect(Array.from(r.scores!)).toEqual(Array.from(dense.subarray(0, K), (e) => scores[e]));
    }
  });

  it('KeptIndex: per-upstream edges by rank and each downstream latent’s first rank', () => {
    const f0 = 7;
    const f1 = 5;
    const ranking = randomRanking(f0 * f1, 3).slice(0, 20);
    const k = new KeptIndex(ranking, f0, f1);
    for (let r = 0; r < 20; r++) {
      const j = ranking[r] % f1;
      const i = (ranking[r] - j) / f1;
      const at = Array.from({ length: k.start[i + 1] - k.start[i] }, (_, q) => k.start[i] + q);
      expect(at.some((e) => k.js[e] === j && k.ranks[e] === r)).toBe(true);
      expect(k.firstRank[j]).toBeLessThanOrEqual(r);
    }
  });
});

describe('chunked sparse ablation', () => {
  for (const setup of ['ffblock', 'fflayer', 'tblock'] as const)
    for (const act of ['topk', 'relu', 'jumprelu'] as const) {
      if (setup === 'tblock' && act === 'relu') continue;
      it(`${setup} ${act}: SubcircuitEvaluator's logits at every budget, full circuit included`, async () => {
        const { pm } = pairFor(setup, act);
        const clean = pm.clean(randomTokens(12, 3, T));
        const E = pm.f0 * pm.f1;
        const scores = await denseScores(pm, [randomTokens(13, 3, T)], { steps: 2, scaling: 'reference' });
        const pool = await PairPool.start(pm, false);
        try {
          for (const ranking of [rankByScore(scores, 1), randomRanking(E, 2)]) {
            const dense = await SubcircuitEvaluator.create(pm, clean, pool);
            const sparse = await ChunkSubcircuit.create(
              pm,
              clean,
              pool,
              new KeptIndex(ranking, pm.f0, pm.f1),
            );
            for (const n of [1, 3, 9, 40, 150, E]) {
              const a = await dense.logits(ranking, n, { relu: act === 'topk' && n === 9 });
              const b = await sparse.logits(n, { relu: act === 'topk' && n === 9 });
              expect(maxRelDiff(await b.data(), await a.data()), `N = ${n}`).toBe(0);
              tf.dispose([a, b]);
            }
            const full = await pm.fullCircuitLogits(clean);
            const mine = await sparse.fullCircuitLogits();
            expect(maxRelDiff(await mine.data(), await full.data())).toBe(0);
            tf.dispose([full, mine]);
          }
        } finally {
          await pool.close();
        }
      });
    }
});
