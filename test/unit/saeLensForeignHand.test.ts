/**
 * SCALAR with JumpReLU SAEs on the hand-built identity pair (scalar.helpers.ts: the block is exactly the identity,
 * both SAEs are permutation matrices, so downstream latent j reads upstream latent σ⁻¹(j) alone). With
 * thresholds θ (multiples of 1/64) everything is worked out here in float64 plain JS:
 *   z₀[n, i]   = p·1[p > θ₀ᵢ],  p = x[n, π₀(i)] + b₀ᵢ               (SAE₀'s JumpReLU; active counts vary per token)
 *   f_j(z)     = z_{σ⁻¹(j)} + b₁ⱼ;  j is a seed at α_s where α_s z₀[n, σ⁻¹(j)] + b₁ⱼ > θ₁ⱼ
 *   A[i, σ(i)] = sqrt(Σ_n (c_n,i · #{s : seed})²), every other edge 0
 *   R[n, j]    = (σ⁻¹(j) ∈ U(j) ? z₀[n, σ⁻¹(j)] : 0) + b₁ⱼ if U(j) ≠ ∅ else 0;   Z₁ = R·1[R > θ₁]
 *   logits     = LN_f(x̂₁) wteᵀ with x̂₁[π₁(j)] = Z₁ⱼ
 * and the plain and fast algorithms are checked against it (edge scores, logits and KL at several budgets).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import { SubcircuitEvaluator } from '../../src-main/engine/scalar/ablation.ts';
import { attributionBatchFast, finishAttribution } from '../../src-main/engine/scalar/attribution.ts';
import { PairModel, perTokenKl } from '../../src-main/engine/scalar/pair.ts';
import { PairPool } from '../../src-main/engine/scalar/pairPool.ts';
import { accumulateAttributionPlain, subcircuitLogitsPlain } from '../../src-main/engine/scalar/plain.ts';
import { expectClose } from './lm.helpers.ts';
import { ID, identityPair, kl64, keptSets64, permutationSae } from './scalar.helpers.ts';

beforeAll(async () => {
  await initBackend();
});

const F = ID.D;
const PI0 = [3, 7, 1, 0, 5, 2, 6, 4];
const PI1 = [6, 0, 4, 2, 7, 1, 3, 5];
const B0 = [0, 3, -4, 0, 2, 0, -6, 1].map((v) => v / 64);
const B1 = [-10, 20, -9, 5, -30, 14, -3, 8].map((v) => v / 64);
const TH0 = [10, 0, 25, 40, 5, 60, 15, 30].map((v) => v / 64);
const TH1 = [0, 30, 3, 45, 12, 50, 7, 20].map((v) => v / 64);

describe('JumpReLU identity pair, worked out by hand', () => {
  for (const setup of ['tblock', 'ffblock'] as const) {
    it(`${setup}: edge scores (both scalings), subcircuit logits and KL at N ∈ {1, 3, 8, 20, 64}`, async () => {
      const spec = { setup, pi0: PI0, pi1: PI1, b0: B0, b1: B1, k0: F, k1: F, seed: 3 };
      const { lm, pair, hand, tokens } = identityPair(spec);
      const withTh = (w: ReturnType<typeof permutationSae>, th: number[]) => ({
        ...w,
        threshold: tf.tensor1d(th),
      });
      const pm = new PairModel(
        lm,
        pair,
        { w: withTh(permutationSae(PI0, B0), TH0), k: F },
        { w: withTh(permutationSae(PI1, B1), TH1), k: F },
      );
      const N = hand.N;
      const x = hand.x;
      const z0 = new Float64Array(N * F);
      let margin = Infinity;
      for (let n = 0; n < N; n++)
        for (let i = 0; i < F; i++) {
          const p = x[n * F + PI0[i]] + B0[i];
          margin = Math.min(margin, Math.abs(p - TH0[i]));
          z0[n * F + i] = p > TH0[i] ? p : 0;
        }
      const counts = Array.from(
        { length: N },
        (_, n) => z0.subarray(n * F, (n + 1) * F).filter((v) => v > 0).length,
      );
      expect(new Set(counts).size, `upstream active counts ${counts}`).toBeGreaterThan(1);
      const inv = (perm: number[]) => perm.reduce<number[]>((a, p, i) => ((a[p] = i), a), []);
      const sigmaInv = Array.from({ length: F }, (_, j) => inv(PI0)[PI1[j]]);
      const S = 4;
      const clean = pm.clean(tf.tensor2d(tokens, [ID.B, ID.T], 'int32'));

      for (const scaling of ['textbook', 'reference'] as const) {
        const A = new Float64Array(F * F);
        for (let j = 0; j < F; j++) {
          const i = sigmaInv[j];
          let sum = 0;
          for (let n = 0; n < N; n++) {
            let seeds = 0;
            for (let s = 0; s < S; s++) {
              const v = (s / (S - 1)) * z0[n * F + i] + B1[j];
              margin = Math.min(margin, Math.abs(v - TH1[j]));
              if (v > TH1[j]) seeds++;
            }
            const norm = Math.hypot(...z0.subarray(n * F, (n + 1) * F));
            const c = scaling === 'textbook' ? z0[n * F + i] / S : norm / S;
            sum += (c * seeds) ** 2;
          }
          A[i * F + j] = Math.sqrt(sum);
        }
        expect(A.filter((v) => v > 0).length, scaling).toBeGreaterThan(3);
        const sumSq = new Float64Array(F * F);
        accumulateAttributionPlain(pm, clean, { steps: S, scaling }, sumSq);
        expectClose(sumSq.map(Math.sqrt), A, { atol: 1e-6, rtol: 1e-5 }, `plain, ${scaling}`);
        const fast = await finishAttribution(
          pm,
          await attributionBatchFast(pm, clean, { steps: S, scaling }),
          scaling,
        );
        expectClose(fast, A, { atol: 1e-5, rtol: 1e-5 }, `fast, ${scaling}`);
      }
      // Far from every step's switch, so float32 and float64 agree on every active set.
      expect(margin).toBeGreaterThan(1e-3);

      // Ranking: the permutation edges (i, σ(i)) in order of i, then every other edge.
      const sigma = inv(sigmaInv);
      const first = Array.from({ length: F }, (_, i) => i * F + sigma[i]);
      const ranking = Int32Array.from([
        ...first,
        ...Array.from({ length: F * F }, (_, e) => e).filter((e) => !first.includes(e)),
      ]);
      const pool = await PairPool.start(pm, false);
      try {
        const ev = await SubcircuitEvaluator.create(pm, clean, pool);
        for (const budget of [1, 3, 8, 20, 64]) {
          const U = keptSets64(ranking, budget, F);
          const xh = new Float64Array(N * F);
          for (let n = 0; n < N; n++)
            for (let j = 0; j < F; j++) {
              if (U[j].size === 0) continue;
              const R = (U[j].has(sigmaInv[j]) ? z0[n * F + sigmaInv[j]] : 0) + B1[j];
              xh[n * F + PI1[j]] = R > TH1[j] ? R : 0;
            }
          const expected = hand.logitsAt(xh);
          const plain = subcircuitLogitsPlain(pm, clean, ranking, budget, { relu: false });
          const fast = await ev.logits(ranking, budget, { relu: false });
          expectClose(plain.dataSync(), expected, { atolRel: 1e-5 }, `plain logits, N = ${budget}`);
          expectClose(fast.dataSync(), expected, { atolRel: 1e-5 }, `fast logits, N = ${budget}`);
          const kl = kl64(hand.cleanLogits(), expected, ID.V);
          expectClose(
            await perTokenKl(clean.logits, fast),
            kl,
            { atol: 1e-6, rtol: 1e-4 },
            `KL, N = ${budget}`,
          );
          tf.dispose([plain, fast]);
        }
      } finally {
        await pool.close();
        pm.dispose();
        lm.dispose();
      }
    });
  }
});
