/**
 * The float64 finish of reference-scaled edge scores (issue 14, item 5a): A[i, j] = sqrt(w_i · M_j · w_iᵀ) with
 * M_j positive semi-definite and stored as its upper triangle. Upstream rows nearly orthogonal to M_j's range
 * give scores 1e-3 … 1e-5 of the column's largest, a small difference of terms of order 1: the case a float32
 * form loses (shown below on the same data) and the float64 finish must keep to 1e-6 relative, without zeros.
 * The reference is computed here independently: the full symmetric M_j, the double sum over (a, b) in float64.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import { referenceScores64 } from '../../src-main/engine/scalar/attribution.ts';
import { TestRng } from './lm.helpers.ts';

const D = 16;
const F0 = 40;
const F1 = 6;
const RANK = 4;

/** M_j = Σ_r v_r v_rᵀ (rank 4) with its lower triangle filled with junk the finish must ignore. */
function matrices(rng: TestRng): { summed: Float64Array; basis: Float64Array[][] } {
  const summed = new Float64Array(F1 * D * D);
  const basis: Float64Array[][] = [];
  for (let j = 0; j < F1; j++) {
    const vs = Array.from({ length: RANK }, () => Float64Array.from({ length: D }, () => rng.normal() * 3));
    basis.push(vs);
    for (let a = 0; a < D; a++)
      for (let b = 0; b < D; b++)
        summed[j * D * D + a * D + b] = b >= a ? vs.reduce((s, v) => s + v[a] * v[b], 0) : 1e3 * rng.normal();
  }
  return { summed, basis };
}

/** Rows: random for i < 10; else a unit vector orthogonal to column (i % F1)'s range plus ε of a range vector. */
function decoder(rng: TestRng, basis: Float64Array[][]): Float32Array {
  const w = new Float32Array(F0 * D);
  for (let i = 0; i < F0; i++) {
    let row = Float64Array.from({ length: D }, () => rng.normal());
    if (i >= 10) {
      // Gram–Schmidt against the range of M_j, then add ε·v₀ (ε from 1e-2 down to 1e-5).
      const vs = basis[i % F1].map((v) => Float64Array.from(v));
      for (let r = 0; r < vs.length; r++) {
        for (let q = 0; q < r; q++) {
          const d = vs[r].reduce((s, x, a) => s + x * vs[q][a], 0);
          vs[r] = vs[r].map((x, a) => x - d * vs[q][a]);
        }
        const n = Math.hypot(...vs[r]);
        vs[r] = vs[r].map((x) => x / n);
      }
      for (const v of vs) {
        const d = row.reduce((s, x, a) => s + x * v[a], 0);
        row = row.map((x, a) => x - d * v[a]);
      }
      const eps = 10 ** -(2 + (i % 4));
      row = row.map((x, a) => x / Math.hypot(...row) + eps * vs[0][a]);
    }
    w.set(Float32Array.from(row), i * D);
  }
  return w;
}

/** The independent float64 reference: full symmetric M, Σ_a Σ_b w_a M_ab w_b. */
function reference(w: Float32Array, summed: Float64Array): Float64Array {
  const out = new Float64Array(F0 * F1);
  for (let i = 0; i < F0; i++)
    for (let j = 0; j < F1; j++) {
      let s = 0;
      for (let a = 0; a < D; a++)
        for (let b = 0; b < D; b++) {
          const m = summed[j * D * D + Math.min(a, b) * D + Math.max(a, b)];
          s += w[i * D + a] * m * w[i * D + b];
        }
      out[i * F1 + j] = Math.sqrt(Math.max(0, s));
    }
  return out;
}

beforeAll(async () => {
  await initBackend();
});

describe('float64 finish of reference-scaled edge scores', () => {
  const rng = new TestRng(14);
  const { summed, basis } = matrices(rng);
  const w = decoder(rng, basis);
  const expected = reference(w, summed);
  const max = Math.max(...expected);

  it('the case is one a float32 form gets wrong (as the finish was before)', () => {
    // The former finish: float32 matmul of Q[i, (a, b)] = w_a w_b (×2 off the diagonal) with the upper triangles.
    const a2 = tf.tidy(() => {
      const upper = tf.sub(tf.mul(2, tf.linalg.bandPart(tf.ones([D, D]), 0, -1)), tf.eye(D));
      const wt = tf.tensor2d(w, [F0, D]);
      const q = tf.mul(tf.mul(wt.reshape([F0, D, 1]), wt.reshape([F0, 1, D])), upper).reshape([F0, D * D]);
      return tf.matMul(q, tf.tensor2d(Float32Array.from(summed), [F1, D * D]), false, true).dataSync();
    });
    let worst = 0;
    expected.forEach((e, k) => {
      if (e > 1e-6 * max) worst = Math.max(worst, Math.abs(Math.sqrt(Math.max(0, a2[k])) - e) / e);
    });
    expect(worst).toBeGreaterThan(1e-3);
  });

  it('keeps every score above 1e-6 of the maximum to 1e-6 relative, and none becomes 0', () => {
    const got = referenceScores64(w, summed, F0, F1, D);
    let small = 0;
    expected.forEach((e, k) => {
      if (e <= 1e-6 * max) return;
      if (e < 1e-3 * max) small++;
      expect(got[k], `edge ${k}`).toBeGreaterThan(0);
      expect(Math.abs(got[k] - e) / e, `edge ${k}: ${got[k]} vs ${e}`).toBeLessThan(1e-6);
    });
    expect(small).toBeGreaterThanOrEqual(10); // the near-orthogonal rows reach 1e-5 … 1e-3 of the maximum
  });

  it('a hand-worked 2 × 2 case: w = (1, 2), M = [[3, 1], [·, 4]] gives sqrt(3 + 4 + 16) = sqrt(23)', () => {
    const got = referenceScores64([1, 2], [3, 1, 99, 4], 1, 1, 2);
    expect(got[0]).toBeCloseTo(Math.sqrt(23), 6);
  });
});
