/**
 * Progressive ablation (SPEC §4.3): the fast SubcircuitEvaluator equals the plain grouped algorithm (one
 * segment pass per distinct kept set) on random small pairs of every setup, with and without the ReLU, at
 * increasing budgets (1, middle values, F₀·F₁ − 1, F₀·F₁) for a random and an IG ranking, on one thread and with
 * the PairPool worker; staircase pairs of unequal widths too. With every edge kept the fast subcircuit is the
 * full circuit bit for bit.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import { SubcircuitEvaluator } from '../../src-main/engine/scalar/ablation.ts';
import { attributionBatchFast, finishAttribution } from '../../src-main/engine/scalar/attribution.ts';
import { perTokenKl, type CleanPass, type PairModel } from '../../src-main/engine/scalar/pair.ts';
import { PairPool } from '../../src-main/engine/scalar/pairPool.ts';
import { subcircuitLogitsPlain } from '../../src-main/engine/scalar/plain.ts';
import { randomRanking, rankByScore } from '../../src-main/engine/scalar/ranking.ts';
import { expectClose, layerNorm64, linear64, maxRelDiff, refGpt } from './lm.helpers.ts';
import { stableTopk } from './sae.helpers.ts';
import {
  keptSets64,
  kl64,
  pairF64,
  randomPair,
  randomTokens,
  type RandomPairSpec,
} from './scalar.helpers.ts';

beforeAll(async () => {
  await initBackend();
});

/** Tolerance: max |fast − plain| ≤ 1e-5 · max |plain logit| (float32; only the batching differs). */
const TOL = 1e-5;

/** Rows of pre₁ of the full circuit with fewer than k positive entries (there the ReLU option matters). */
async function rowsShortOfK(pm: PairModel, clean: CleanPass): Promise<number> {
  const [B, T] = clean.tokens.shape;
  const codes = pm.upCodes(clean);
  const pre = await pm.preDownOfCodes(codes, B, T);
  tf.dispose([codes.idx, codes.val]);
  let short = 0;
  for (let n = 0; n < B * T; n++) {
    let pos = 0;
    for (let j = 0; j < pm.f1; j++) if (pre[n * pm.f1 + j] > 0) pos++;
    if (pos < pm.down.k) short++;
  }
  return short;
}

async function checkPair(spec: RandomPairSpec, budgets: (E: number) => number[]): Promise<void> {
  const { lm, pm } = randomPair(spec);
  const E = pm.f0 * pm.f1;
  const clean = pm.clean(randomTokens(13, 3, 6));
  const ig = rankByScore(
    await finishAttribution(
      pm,
      await attributionBatchFast(pm, clean, { steps: 4, scaling: 'reference' }),
      'reference',
    ),
    1,
  );
  const rankings = { random: randomRanking(E, 3), ig };
  const full = (await pm.fullCircuitLogits(clean)).dataSync();
  // Without a downstream bias shift every token has ≥ k positive pre-activations, so even without the ReLU
  // the subcircuit with every edge kept is the full circuit; with a negative shift some tokens have fewer,
  // and only the ReLU variant is the full circuit (SAE₁'s own encoder has the ReLU).
  const short = await rowsShortOfK(pm, clean);
  if (spec.downBias) expect(short).toBeGreaterThan(0);
  else expect(short).toBe(0);
  const pools = { single: await PairPool.start(pm, false), worker: await PairPool.start(pm, true) };
  expect(pools.worker.threads).toBe(2);
  try {
    for (const relu of [false, true]) {
      for (const [name, ranking] of Object.entries(rankings)) {
        const evs = {
          single: await SubcircuitEvaluator.create(pm, clean, pools.single),
          worker: await SubcircuitEvaluator.create(pm, clean, pools.worker),
        };
        for (const n of budgets(E)) {
          const what = `${name} ranking, relu ${relu}, N = ${n}`;
          const plain = subcircuitLogitsPlain(pm, clean, ranking, n, { relu });
          const p = plain.dataSync();
          const single = (await evs.single.logits(ranking, n, { relu })).dataSync();
          const worker = (await evs.worker.logits(ranking, n, { relu })).dataSync();
          expect(maxRelDiff(single, p), what).toBeLessThan(TOL);
          // Each task's arithmetic is the same on either thread: the split does not change a bit.
          expect(Array.from(worker), what).toEqual(Array.from(single));
          // A budget that changes the function (not every budget reproduces the full circuit).
          if (n === 1) expect(maxRelDiff(p, full), what).toBeGreaterThan(1e-3);
          if (n === E && (relu || short === 0))
            expect(Array.from(single), `${what}: = full circuit`).toEqual(Array.from(full));
          if (n === E && !relu && short > 0) expect(maxRelDiff(single, full), what).toBeGreaterThan(1e-3);
          plain.dispose();
        }
      }
    }
  } finally {
    await pools.single.close();
    await pools.worker.close();
    lm.dispose();
  }
}

describe('plain algorithm = SPEC §4.3 computed in float64 on nonlinear segments', () => {
  // A second algorithm: the clean LM and h_mid from lm.helpers' float64 reference GPT, f from pairF64, R by
  // one float64 segment pass per downstream latent, stable TopK, x̂₁ = Z₁ W_dec₁ + b_dec₁, then the rest of the
  // model (pair 1 of 2 layers: final LayerNorm and tied head; fflayer continues from h_mid + x̂₁), KL by hand.
  it.each([
    { setup: 'fflayer', norm2: 'layernorm', downBias: 0 },
    { setup: 'ffblock', norm2: 'dyt', downBias: 0 },
    { setup: 'tblock', norm2: 'layernorm', downBias: 0 },
    { setup: 'ffblock', norm2: 'layernorm', downBias: -0.8 },
    { setup: 'tblock', norm2: 'layernorm', downBias: -0.8 },
  ] as const)(
    '$setup ($norm2, b_enc₁ shift $downBias): logits and per-token KL at every budget, random and IG rankings',
    async (c) => {
      const { lm, pm } = randomPair({ setup: c.setup, norm2: c.norm2, downBias: c.downBias });
      const [B, T] = [3, 6];
      const { f0: F0, f1: F1 } = pm;
      const { dModel: D, vocabSize: V } = lm.config;
      const k = pm.down.k;
      const tokens = randomTokens(13, B, T);
      const clean = pm.clean(tokens);
      const N = B * T;
      const params = Object.fromEntries(Object.entries(lm.params).map(([n, v]) => [n, v.dataSync()]));
      const ref = refGpt(lm.config, params, tokens.dataSync(), B, T);
      const f = pairF64(pm, B, T);
      const codes = pm.upCodes(clean);
      const z0 = new Float64Array(N * F0);
      const idx = codes.idx.dataSync();
      const val = codes.val.dataSync();
      for (let q = 0; q < idx.length; q++) z0[Math.floor(q / pm.up.k) * F0 + idx[q]] += val[q];
      const wDec1 = Float64Array.from(pm.down.w.wDec.dataSync());
      const bDec1 = Float64Array.from(pm.down.w.bDec.dataSync());
      const hMid = ref.hooks[`blocks.${pm.pair.layer}.hook_resid_mid`];

      let worstMargin = Infinity;
      const logits64 = (ranking: Int32Array, n: number, relu: boolean) => {
        const sets = keptSets64(ranking, n, F1);
        const R = new Float64Array(N * F1);
        for (let j = 0; j < F1; j++) {
          if (sets[j].size === 0) continue;
          const pre = f(z0.map((v, q) => (sets[j].has(q % F0) ? v : 0)));
          for (let t = 0; t < N; t++) R[t * F1 + j] = pre[t * F1 + j];
        }
        const h = new Float64Array(N * D);
        for (let t = 0; t < N; t++) {
          const row = Array.from(R.subarray(t * F1, (t + 1) * F1), (v) => (relu ? Math.max(0, v) : v));
          const sorted = [...row].sort((a, b) => b - a);
          // Swapping the k-th and (k+1)-th changes x̂₁ discontinuously unless both are ≈ 0.
          if (Math.abs(sorted[k - 1]) > 1e-6 || Math.abs(sorted[k]) > 1e-6)
            worstMargin = Math.min(worstMargin, sorted[k - 1] - sorted[k]);
          const top = stableTopk(row, k);
          for (let d = 0; d < D; d++) {
            let s = bDec1[d] + (c.setup === 'fflayer' ? hMid[t * D + d] : 0);
            top.idx.forEach((j, q) => (s += top.val[q] * wDec1[j * D + d]));
            h[t * D + d] = s;
          }
        }
        const nf = layerNorm64(h, D, params['ln_f.weight'], params['ln_f.bias'], lm.config.lnEps);
        const wteT = new Float64Array(D * V);
        for (let v = 0; v < V; v++)
          for (let d = 0; d < D; d++) wteT[d * V + v] = params['wte.weight'][v * D + d];
        return linear64(nf, D, wteT, V);
      };

      const E = F0 * F1;
      const ig = rankByScore(
        await finishAttribution(
          pm,
          await attributionBatchFast(pm, clean, { steps: 4, scaling: 'reference' }),
          'reference',
        ),
        1,
      );
      expectClose(clean.logits.dataSync(), ref.logits, { atolRel: 1e-5 }, 'clean logits');
      for (const [name, ranking] of Object.entries({ random: randomRanking(E, 3), ig })) {
        for (const relu of [false, true]) {
          for (const n of [1, 7, 30, E / 2, E - 1, E]) {
            const what = `${name}, relu ${relu}, N = ${n}`;
            const expected = logits64(ranking, n, relu);
            const plain = subcircuitLogitsPlain(pm, clean, ranking, n, { relu });
            // float32 vs float64 through LayerNorm and the head: ≤ 1e-4 of the largest logit.
            expectClose(plain.dataSync(), expected, { atolRel: 1e-4 }, `${what}: logits`);
            expectClose(
              await perTokenKl(clean.logits, plain),
              kl64(ref.logits, expected, V),
              { atol: 1e-5, rtol: 1e-3 },
              `${what}: KL`,
            );
            plain.dispose();
          }
        }
      }
      expect(worstMargin, 'TopK decisions far from ties').toBeGreaterThan(1e-4);
      lm.dispose();
    },
  );
});

describe('fast ablation = plain algorithm on random pairs', () => {
  const budgets = (E: number) => [1, 5, 20, Math.floor(E / 2), Math.floor((3 * E) / 4), E - 1, E];
  it.each([
    { setup: 'fflayer', norm2: 'layernorm' },
    { setup: 'ffblock', norm2: 'dyt' },
    { setup: 'ffblock', norm2: 'layernorm' },
    { setup: 'tblock', norm2: 'layernorm' },
  ] as const)('$setup ($norm2): random and IG rankings × relu × single/worker', async (c) => {
    await checkPair({ setup: c.setup, norm2: c.norm2 }, budgets);
  });

  it.each(['fflayer', 'ffblock', 'tblock'] as const)(
    '%s with a negative downstream bias (tokens with < k positive pre-activations: the ReLU matters)',
    async (setup) => {
      await checkPair({ setup, downBias: -0.8 }, budgets);
    },
  );

  it('staircase ffblock pair (F₀ = n = 6, F₁ = 2n = 12)', async () => {
    await checkPair({ setup: 'ffblock', arch: 'staircase', width: 6, pair: 0 }, (E) => [
      1,
      9,
      E / 2,
      E - 1,
      E,
    ]);
  });

  it('staircase tblock pair 1 (F₀ = 2n = 12, F₁ = 3n = 18)', async () => {
    await checkPair({ setup: 'tblock', arch: 'staircase', width: 6, pair: 1 }, (E) => [
      1,
      30,
      E / 2,
      E - 1,
      E,
    ]);
  });

  it.each([33, 40])(
    'more than 32 active upstream latents per token (k₀ = %i): per-token unit keys stay distinct',
    async (k) => {
      // A per-token unit is keyed by which of the token's k₀ code slots U keeps; with a 32-bit mask slot q and
      // q + 32 would share a bit, so two different kept sets (or a near-full set and the full one) collide.
      const { lm, set, pm } = randomPair({ setup: 'ffblock', width: 48, k });
      // Large b_enc₀ (the variable behind pm.up.w.bEnc): every one of the k₀ slots is active on every token.
      set.view(pm.pair.up).bEnc.assign(tf.fill([48], 5));
      const clean = pm.clean(randomTokens(13, 1, 4));
      const codes = pm.upCodes(clean);
      expect(Array.from(codes.val.dataSync()).every((v) => v > 0)).toBe(true);
      const E = pm.f0 * pm.f1;
      const ranking = randomRanking(E, 3);
      const pool = await PairPool.start(pm, false);
      try {
        const ev = await SubcircuitEvaluator.create(pm, clean, pool);
        for (const n of [100, 1000, 2000, 2200, 2290, 2300, E - 1, E]) {
          const plain = subcircuitLogitsPlain(pm, clean, ranking, n, { relu: false }).dataSync();
          const fast = (await ev.logits(ranking, n, { relu: false })).dataSync();
          expect(maxRelDiff(fast, plain), `N = ${n}`).toBeLessThan(TOL);
        }
      } finally {
        await pool.close();
        lm.dispose();
      }
    },
  );

  it('budgets beyond the previous one reuse results: a fresh evaluator at each budget gives the same logits', async () => {
    const { lm, pm } = randomPair({ setup: 'ffblock' });
    const clean = pm.clean(randomTokens(17, 2, 6));
    const ranking = randomRanking(pm.f0 * pm.f1, 8);
    const pool = await PairPool.start(pm, false);
    try {
      const reused = await SubcircuitEvaluator.create(pm, clean, pool);
      for (const n of [3, 40, 41, 100, 143]) {
        const a = (await reused.logits(ranking, n, { relu: false })).dataSync();
        const fresh = await SubcircuitEvaluator.create(pm, clean, pool);
        const b = (await fresh.logits(ranking, n, { relu: false })).dataSync();
        expect(maxRelDiff(a, b), `N = ${n}`).toBeLessThan(TOL);
      }
    } finally {
      await pool.close();
      lm.dispose();
    }
  });
});
