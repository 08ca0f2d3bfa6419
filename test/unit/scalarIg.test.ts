/**
 * Integrated-gradient edge scores (SPEC §4.2):
 * - textbook completeness where f is linear along the whole path (every downstream latent active at every α:
 *   k₁ = F₁ and a large positive b_enc₁, identity segment): on a permutation pair A[i, σ(i)]² =
 *   Σ_tokens (f_σ(i)(z₀) − f_σ(i)(0))²; on a dense pair, per token |G_j[i]| = |z₀ᵢ ∂f_j/∂zᵢ| with the
 *   Jacobian W_dec₀ W_enc₁ multiplied out by hand, and those terms add up to f(z₀) − f(0) of the forward pass;
 * - the fast attribution equals the plain algorithm (one backward pass per j per α) on random small pairs of
 *   every setup and norm, both scalings, S ∈ {1, 2, 4}, TopK and staircase (unequal widths) pairs, split into
 *   batches, and on the PairPool worker.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import { densify } from '../../src-main/engine/sae/topk.ts';
import { setupPositions } from '../../src-main/engine/sae/positions.ts';
import { attributionBatchFast, finishAttribution } from '../../src-main/engine/scalar/attribution.ts';
import { PairModel, type CleanPass } from '../../src-main/engine/scalar/pair.ts';
import { PairPool } from '../../src-main/engine/scalar/pairPool.ts';
import { accumulateAttributionPlain, type AttributionOptions } from '../../src-main/engine/scalar/plain.ts';
import { expectClose, maxRelDiff, TestRng } from './lm.helpers.ts';
import { selectionMargin, stableTopk } from './sae.helpers.ts';
import {
  ID,
  ID_TOKENS,
  identityLm,
  pairF64,
  permutationSae,
  randomPair,
  randomTokens,
} from './scalar.helpers.ts';

beforeAll(async () => {
  await initBackend();
});

/** Plain-algorithm scores A = sqrt(Σ G²) [F₀·F₁]. */
function plainScores(pm: PairModel, clean: CleanPass, opts: AttributionOptions): Float64Array {
  const sumSq = new Float64Array(pm.f0 * pm.f1);
  accumulateAttributionPlain(pm, clean, opts, sumSq);
  return sumSq.map(Math.sqrt);
}
const fastScores = async (pm: PairModel, clean: CleanPass, opts: AttributionOptions) =>
  await finishAttribution(pm, await attributionBatchFast(pm, clean, opts), opts.scaling);

/** f(z) = pre₁(segment(decode₀(z))) for dense codes [B, T, F₀] through the pair's forward pass, flat. */
const forwardF = (pm: PairModel, z: tf.Tensor3D) =>
  tf.tidy(() => pm.preDown(pm.segment(pm.decodeUpDense(z))).dataSync());

function denseCodes(pm: PairModel, clean: CleanPass): tf.Tensor3D {
  const [B, T] = clean.tokens.shape;
  return tf.tidy(() => densify(pm.upCodes(clean), pm.f0).reshape([B, T, pm.f0]) as tf.Tensor3D);
}

describe('textbook completeness on a linear path', () => {
  const F = ID.D;
  const PI0 = [5, 2, 7, 0, 3, 6, 1, 4];
  const PI1 = [1, 6, 3, 7, 0, 4, 2, 5];
  for (const setup of ['tblock', 'ffblock'] as const) {
    it(`${setup}, permutation pair: A[i, σ(i)]² = Σ_tokens (f_σ(i)(z₀) − f_σ(i)(0))², for S = 2…5`, async () => {
      const lm = identityLm(11);
      const pair = setupPositions(setup, 1).pairs[0];
      // k₁ = F and b_enc₁ = 10 ≫ |z₀|: every downstream latent is active at every α, so f is linear on the path.
      const pm = new PairModel(
        lm,
        pair,
        { w: permutationSae(PI0, new Array(F).fill(0)), k: 3 },
        { w: permutationSae(PI1, new Array(F).fill(10)), k: F },
      );
      const clean = pm.clean(tf.tensor2d(ID_TOKENS, [ID.B, ID.T], 'int32'));
      const z0 = denseCodes(pm, clean);
      const diff = tf.tidy(() => {
        const a = forwardF(pm, z0);
        const b = forwardF(pm, tf.zerosLike(z0));
        return a.map((v, q) => v - b[q]);
      });
      const z = z0.dataSync();
      const N = ID.B * ID.T;
      // σ from the permutations: x̂₀[π₀(i)] = zᵢ and pre₁ⱼ = x̂₀[π₁(j)] + b₁ⱼ, so j = σ(i) iff π₁(j) = π₀(i).
      const sigma = PI0.map((p) => PI1.indexOf(p));
      // By hand, f_σ(i)(z₀) − f_σ(i)(0) = z₀ᵢ (b₁ cancels); the forward pass agrees (exact: one term + zeros).
      for (let n = 0; n < N; n++)
        for (let i = 0; i < F; i++) expect(diff[n * F + sigma[i]]).toBe(z[n * F + i]);
      for (const steps of [2, 3, 4, 5]) {
        const expected = new Float64Array(F * F);
        for (let i = 0; i < F; i++) {
          let s = 0;
          for (let n = 0; n < N; n++) s += diff[n * F + sigma[i]] ** 2;
          expected[i * F + sigma[i]] = Math.sqrt(s);
        }
        // G_j[n, i] = (z₀ᵢ/S)·Σ_s 1 = z₀ᵢ: completeness for each token, whatever S.
        for (const A of [
          plainScores(pm, clean, { steps, scaling: 'textbook' }),
          await fastScores(pm, clean, { steps, scaling: 'textbook' }),
        ])
          expectClose(A, expected, { rtol: 1e-6, atolRel: 1e-7 }, `S = ${steps}`);
      }
      lm.dispose();
    });
  }

  for (const setup of ['tblock', 'ffblock'] as const) {
    it(`${setup}, dense pair: per-token textbook G are z₀ᵢ·(W_dec₀W_enc₁)ᵢⱼ and add up to f(z₀) − f(0)`, async () => {
      const lm = identityLm(12);
      const pair = setupPositions(setup, 1).pairs[0];
      const rng = new TestRng(31);
      const D = ID.D;
      const F0 = 12;
      const F1 = 10;
      const sae = (F: number, bEnc: Float32Array) => ({
        wEnc: rng.normals(D * F, 0.5),
        bEnc,
        wDec: rng.normals(F * D, 0.5),
        bDec: rng.normals(D, 0.1),
      });
      const up = sae(F0, new Float32Array(F0).fill(0.5));
      // |pre₁ − b₁| ≤ ‖x̂₀ − b_dec₁‖·‖W_enc₁[:, j]‖ stays far below 40 on this data (checked below).
      const down = sae(F1, new Float32Array(F1).fill(40));
      const weights = (p: typeof up, F: number) => ({
        wEnc: tf.tensor2d(p.wEnc, [D, F]),
        bEnc: tf.tensor1d(p.bEnc),
        wDec: tf.tensor2d(p.wDec, [F, D]),
        bDec: tf.tensor1d(p.bDec),
      });
      const pm = new PairModel(lm, pair, { w: weights(up, F0), k: 4 }, { w: weights(down, F1), k: F1 });
      // J = ∂f/∂z = W_dec₀ W_enc₁ (identity segment), by hand in float64.
      const J = new Float64Array(F0 * F1);
      for (let i = 0; i < F0; i++)
        for (let j = 0; j < F1; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += up.wDec[i * D + d] * down.wEnc[d * F1 + j];
          J[i * F1 + j] = s;
        }
      // One token per batch: A² of that batch is G_j[i]² for that token.
      for (let n = 0; n < ID_TOKENS.length; n++) {
        const clean = pm.clean(tf.tensor2d([ID_TOKENS[n]], [1, 1], 'int32'));
        const z0 = denseCodes(pm, clean);
        const z = z0.dataSync();
        const f = forwardF(pm, z0);
        const f0 = tf.tidy(() => forwardF(pm, tf.zerosLike(z0)));
        // Every downstream latent active along the whole path: f(αz₀) = (1 − α) f(0) + α f(z₀) > 0.
        for (const v of [...f, ...f0]) expect(v).toBeGreaterThan(20);
        for (let j = 0; j < F1; j++) {
          // Completeness of the hand terms: Σᵢ z₀ᵢ Jᵢⱼ = f_j(z₀) − f_j(0) of the forward pass.
          let sum = 0;
          for (let i = 0; i < F0; i++) sum += z[i] * J[i * F1 + j];
          expect(sum).toBeCloseTo(f[j] - f0[j], 4);
        }
        const expected = Float64Array.from({ length: F0 * F1 }, (_, e) =>
          Math.abs(z[Math.floor(e / F1)] * J[e]),
        );
        for (const steps of [2, 4]) {
          for (const A of [
            plainScores(pm, clean, { steps, scaling: 'textbook' }),
            await fastScores(pm, clean, { steps, scaling: 'textbook' }),
          ])
            expectClose(A, expected, { atolRel: 2e-6 }, `token ${n}, S = ${steps}`);
          // Reference scaling: c = ‖z₀‖/S for every i, so |G| = ‖z₀‖·|Jᵢⱼ|.
          const norm = Math.hypot(...z);
          expectClose(
            await fastScores(pm, clean, { steps, scaling: 'reference' }),
            Float64Array.from(J, (v) => norm * Math.abs(v)),
            { atolRel: 2e-6 },
            `reference, token ${n}`,
          );
        }
      }
      lm.dispose();
    });
  }
});

describe('plain and fast = SPEC §4.2 by float64 finite differences on nonlinear segments', () => {
  // A second algorithm for the formula itself: f in float64 (scalar.helpers' pairF64, built from the LM's
  // parameters with lm.helpers' reference ops), the active set at each α_s from its own ReLU + stable TopK,
  // ∂/∂z_i of Σ_{b',t'} f[b',t',j]·active by central differences (h = 1e-5), then c and the sum of squares.
  const CASES = [
    { setup: 'fflayer', norm2: 'layernorm' },
    { setup: 'ffblock', norm2: 'dyt' },
    { setup: 'ffblock', norm2: 'layernorm' },
    { setup: 'tblock', norm2: 'layernorm' },
  ] as const;
  for (const c of CASES) {
    it(`${c.setup} (${c.norm2}), S = 4, both scalings`, async () => {
      const { lm, pm } = randomPair({ setup: c.setup, norm2: c.norm2 });
      const [B, T, S, h] = [2, 6, 4, 1e-5];
      const { f0: F0, f1: F1 } = pm;
      const k = pm.down.k;
      const clean = pm.clean(randomTokens(9, B, T));
      const z0t = denseCodes(pm, clean);
      const z0 = Float64Array.from(z0t.dataSync());
      const f = pairF64(pm, B, T);
      // The float64 f is the engine's f (to float32 accuracy).
      expectClose(forwardF(pm, z0t), f(z0), { atolRel: 1e-5 }, 'f(z₀)');
      const N = B * T;
      const g = new Float64Array(N * F0 * F1); // Σ_s ∂/∂z[n, i] Σ_{n'} f[n', j]·active_s[n', j]
      for (let s = 0; s < S; s++) {
        const za = z0.map((v) => (v * s) / (S - 1));
        const pre = f(za);
        // Far from any ReLU/TopK switch, so float32 and float64 agree on the active sets.
        expect(selectionMargin(pre, F1, k), `margin at α = ${s}/3`).toBeGreaterThan(1e-4);
        const active = new Float64Array(N * F1);
        for (let n = 0; n < N; n++) {
          const { idx, val } = stableTopk(
            Array.from(pre.subarray(n * F1, (n + 1) * F1), (v) => Math.max(0, v)),
            k,
          );
          idx.forEach((j, q) => (active[n * F1 + j] = val[q] > 0 ? 1 : 0));
        }
        for (let n = 0; n < N; n++)
          for (let i = 0; i < F0; i++) {
            const q = n * F0 + i;
            const x0 = za[q];
            za[q] = x0 + h;
            const up = f(za);
            za[q] = x0 - h;
            const down = f(za);
            za[q] = x0;
            for (let m = 0; m < N; m++)
              for (let j = 0; j < F1; j++)
                g[q * F1 + j] += (active[m * F1 + j] * (up[m * F1 + j] - down[m * F1 + j])) / (2 * h);
          }
      }
      for (const scaling of ['reference', 'textbook'] as const) {
        const sumSq = new Float64Array(F0 * F1);
        for (let n = 0; n < N; n++) {
          const norm = Math.hypot(...z0.subarray(n * F0, (n + 1) * F0));
          for (let i = 0; i < F0; i++) {
            const cni = scaling === 'reference' ? norm / S : z0[n * F0 + i] / S;
            for (let j = 0; j < F1; j++) sumSq[i * F1 + j] += (cni * g[(n * F0 + i) * F1 + j]) ** 2;
          }
        }
        const expected = sumSq.map(Math.sqrt);
        expect(expected.filter((v) => v > 0).length).toBeGreaterThan(F0 * F1 * 0.15);
        const opts = { steps: S, scaling };
        // float32 engine vs float64: ≤ 2e-5 of the largest score (observed ≤ 6e-6, tblock's attention).
        expectClose(plainScores(pm, clean, opts), expected, { atolRel: 2e-5 }, `plain, ${scaling}`);
        expectClose(await fastScores(pm, clean, opts), expected, { atolRel: 2e-5 }, `fast, ${scaling}`);
      }
      lm.dispose();
    });
  }
});

describe('fast attribution = plain algorithm on random pairs', () => {
  // Tolerance: max |fast − plain| ≤ 1e-5 · max |plain| (float32, different summation order).
  const TOL = 1e-5;
  const CASES = [
    { setup: 'fflayer', norm2: 'layernorm' },
    { setup: 'ffblock', norm2: 'dyt' },
    { setup: 'ffblock', norm2: 'layernorm' },
    { setup: 'tblock', norm2: 'layernorm' },
    { setup: 'tblock', norm2: 'dyt' },
  ] as const;
  for (const c of CASES) {
    it(`${c.setup} (${c.norm2}) × {reference, textbook} × S ∈ {1, 2, 4}`, async () => {
      const { lm, pm } = randomPair({ setup: c.setup, norm2: c.norm2 });
      const clean = pm.clean(randomTokens(9, 2, 6));
      for (const scaling of ['reference', 'textbook'] as const) {
        for (const steps of [1, 2, 4]) {
          const plain = plainScores(pm, clean, { steps, scaling });
          const fast = await fastScores(pm, clean, { steps, scaling });
          const nonzero = plain.filter((v) => v > 0).length;
          // A meaningful case: many edges scored, but (textbook) inactive upstream latents score exactly 0.
          expect(nonzero, `${scaling} S=${steps}`).toBeGreaterThan(pm.f0 * pm.f1 * 0.15);
          expect(maxRelDiff(fast, plain), `${scaling} S=${steps}`).toBeLessThan(TOL);
        }
      }
      lm.dispose();
    });
  }

  it('staircase pairs of unequal widths: ffblock (F₀ = n, F₁ = 2n) and tblock pair 1 (2n → 3n)', async () => {
    for (const setup of ['ffblock', 'tblock'] as const) {
      const { lm, pm } = randomPair({ setup, arch: 'staircase', width: 6, pair: setup === 'tblock' ? 1 : 0 });
      expect([pm.f0, pm.f1]).toEqual(setup === 'ffblock' ? [6, 12] : [12, 18]);
      const clean = pm.clean(randomTokens(4, 2, 6));
      for (const scaling of ['reference', 'textbook'] as const) {
        const plain = plainScores(pm, clean, { steps: 4, scaling });
        const fast = await fastScores(pm, clean, { steps: 4, scaling });
        expect(plain.filter((v) => v > 0).length).toBeGreaterThan(pm.f0 * pm.f1 * 0.15);
        expect(maxRelDiff(fast, plain), `${setup} ${scaling}`).toBeLessThan(TOL);
      }
      lm.dispose();
    }
  });

  it('batches add up: two half batches summed = one batch (both scalings), worker task = local task', async () => {
    const { lm, pm } = randomPair({ setup: 'tblock' });
    const tokens = new TestRng(21).ints(4 * 6, 11);
    const clean = (from: number, B: number) =>
      pm.clean(tf.tensor2d(tokens.subarray(from * 6, (from + B) * 6), [B, 6], 'int32'));
    const pool = await PairPool.start(pm, true);
    try {
      expect(pool.threads).toBe(2);
      for (const scaling of ['reference', 'textbook'] as const) {
        const opts = { steps: 4, scaling };
        const whole = await attributionBatchFast(pm, clean(0, 4), opts);
        const a = await attributionBatchFast(pm, clean(0, 2), opts);
        const b = await attributionBatchFast(pm, clean(2, 2), opts);
        const summed = Float64Array.from(a, (v, e) => v + b[e]);
        expect(maxRelDiff(summed, whole)).toBeLessThan(1e-6);
        // Also against the plain algorithm accumulated over the two halves.
        const sumSq = new Float64Array(pm.f0 * pm.f1);
        accumulateAttributionPlain(pm, clean(0, 2), opts, sumSq);
        accumulateAttributionPlain(pm, clean(2, 2), opts, sumSq);
        expect(maxRelDiff(await finishAttribution(pm, summed, scaling), sumSq.map(Math.sqrt))).toBeLessThan(
          TOL,
        );
        // The worker runs the same task on its own copy of the model: identical arithmetic.
        const task = {
          op: 'attribution' as const,
          tokens: tokens.subarray(0, 12),
          B: 2,
          T: 6,
          options: opts,
        };
        const [local, remote] = await pool.map([task, task]);
        expect(Array.from(remote)).toEqual(Array.from(local));
        expect(Array.from(local)).toEqual(Array.from(a));
      }
    } finally {
      await pool.close();
      lm.dispose();
    }
  });
});
