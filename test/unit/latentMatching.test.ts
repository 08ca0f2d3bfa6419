/**
 * Latent matching by decoder cosine (engine/analysis/matching.ts): the Hungarian assignment is optimal (checked
 * against every permutation on small cases), both methods recover a known permutation of noised decoders, the
 * greedy approximation's summed similarity is measured against the optimum on unrelated random decoders, and
 * rectangular widths match the narrower side completely. Also: decoderSource (where a hook's decoder lives in a
 * checkpoint) agrees with SaeSet for every architecture.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { SAE_ARCHS, SAE_SETUPS, archSetupProblem } from '../../src-shared/sae.ts';
import { decoderSource } from '../../src-main/engine/analysis/decoders.ts';
import { greedyAssign, hungarian, matchLatents } from '../../src-main/engine/analysis/matching.ts';
import { initBackend } from '../../src-main/engine/backend.ts';
import { SaeSet } from '../../src-main/engine/sae/saeSet.ts';
import { TestRng } from './lm.helpers.ts';

/** Decoder B = a row permutation of A plus Gaussian noise of relative size `noise`. */
function permutedCopy(rng: TestRng, a: Float32Array, F: number, D: number, noise: number) {
  const perm = Array.from({ length: F }, (_, i) => i);
  for (let i = F - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  // Row perm[i] of B is row i of A (noised, rescaled: cosine ignores scale).
  const b = new Float32Array(F * D);
  for (let i = 0; i < F; i++)
    for (let d = 0; d < D; d++)
      b[perm[i] * D + d] = (a[i * D + d] + (noise * rng.normal()) / Math.sqrt(D)) * (1 + i / F);
  return { b, perm };
}

/** Best permutation by enumeration (n ≤ 7): maximal Σ sim[r, p[r]]. */
function bruteBest(sim: number[][], n: number, m: number): number {
  let best = -Infinity;
  const used = new Array(m).fill(false);
  const go = (r: number, acc: number) => {
    if (r === n) {
      best = Math.max(best, acc);
      return;
    }
    for (let c = 0; c < m; c++) {
      if (used[c]) continue;
      used[c] = true;
      go(r + 1, acc + sim[r][c]);
      used[c] = false;
    }
  };
  go(0, 0);
  return best;
}

describe('hungarian', () => {
  it('finds the optimal assignment (every permutation enumerated), square and rectangular', () => {
    const rng = new TestRng(3);
    for (const [n, m] of [
      [5, 5],
      [6, 6],
      [4, 7],
      [1, 3],
    ]) {
      for (let trial = 0; trial < 5; trial++) {
        const sim = Array.from({ length: n }, () => Array.from({ length: m }, () => rng.normal()));
        const cost = Float64Array.from(sim.flat(), (x) => -x);
        const col = hungarian(cost, n, m);
        expect(new Set(col).size).toBe(n);
        const total = Array.from(col).reduce((s, c, r) => s + sim[r][c], 0);
        expect(total).toBeCloseTo(bruteBest(sim, n, m), 10);
      }
    }
  });
});

describe('matchLatents', () => {
  const D = 16;
  const F = 64;

  for (const method of ['hungarian', 'greedy'] as const) {
    it(`${method}: recovers the permutation of a noised, rescaled copy, with its cosines`, () => {
      const rng = new TestRng(method === 'greedy' ? 11 : 12);
      const a = rng.normals(F * D);
      const { b, perm } = permutedCopy(rng, a, F, D, 0.2);
      const r = matchLatents(a, F, b, F, D, { method });
      expect(r.method).toBe(method);
      expect(Array.from(r.a)).toEqual(Array.from({ length: F }, (_, i) => i));
      expect(Array.from(r.b)).toEqual(perm);
      // Cosines recomputed in float64.
      for (let x = 0; x < F; x++) {
        let ab = 0;
        let aa = 0;
        let bb = 0;
        for (let d = 0; d < D; d++) {
          const u = a[r.a[x] * D + d];
          const v = b[r.b[x] * D + d];
          ab += u * v;
          aa += u * u;
          bb += v * v;
        }
        expect(r.cos[x]).toBeCloseTo(ab / Math.sqrt(aa * bb), 5);
      }
      expect(r.meanCos).toBeGreaterThan(0.9);
    });
  }

  it('matches the narrower side completely when widths differ (either way round)', () => {
    const rng = new TestRng(4);
    const a = rng.normals(20 * D);
    // B = A's 20 rows permuted and noised, plus 12 unrelated rows.
    const { b: core, perm } = permutedCopy(rng, a, 20, D, 0.1);
    const b = new Float32Array(32 * D);
    b.set(core);
    b.set(rng.normals(12 * D), 20 * D);
    const ab = matchLatents(a, 20, b, 32, D);
    expect(ab.a.length).toBe(20);
    expect(Array.from(ab.b)).toEqual(perm);
    const ba = matchLatents(b, 32, a, 20, D);
    expect(ba.a.length).toBe(20);
    for (let x = 0; x < 20; x++) expect(ba.b[x]).toBe(perm.indexOf(ba.a[x]));
    expect(ba.widthA).toBe(32);
    expect(ba.widthB).toBe(20);
  });

  it('greedy vs optimal on unrelated random decoders: summed similarity within a few percent (measured)', () => {
    const rng = new TestRng(9);
    const n = 200;
    const a = rng.normals(n * D);
    const b = rng.normals(n * D);
    const exact = matchLatents(a, n, b, n, D, { method: 'hungarian' });
    const greedy = matchLatents(a, n, b, n, D, { method: 'greedy' });
    const ratio = greedy.meanCos / exact.meanCos;
    const agree = Array.from(greedy.b).filter((c, r) => c === exact.b[r]).length / n;
    console.log(
      `matching quality (n=${n}, D=${D}, random decoders): optimal mean cos ${exact.meanCos.toFixed(4)}, ` +
        `greedy ${greedy.meanCos.toFixed(4)} (ratio ${ratio.toFixed(4)}), same partner for ${(agree * 100).toFixed(1)} %`,
    );
    expect(greedy.meanCos).toBeLessThanOrEqual(exact.meanCos + 1e-9);
    expect(ratio).toBeGreaterThan(0.9);
  });

  it('greedyAssign is a one-to-one assignment even when candidates run out', () => {
    // Every row prefers column 0: later rounds must place the rest.
    const col = greedyAssign((r, c) => (c === 0 ? 10 : -c - r), 5, 6, 1);
    expect(new Set(col).size).toBe(5);
    expect(Math.min(...col)).toBeGreaterThanOrEqual(0);
  });
});

describe('decoderSource', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('names the same group file, tensor and rows as SaeSet for every architecture and setup', () => {
    for (const arch of SAE_ARCHS)
      for (const setup of SAE_SETUPS) {
        if (archSetupProblem(arch, setup)) continue;
        const set = new SaeSet({ arch, setup, width: 4, k: 2, dModel: 4, nLayer: 2, seed: 0 });
        try {
          for (const v of set.views) {
            const src = decoderSource({ arch, setup, width: 4 }, v.hook, 2);
            const group = set.groups.find((g) => g.hooks.includes(v.hook))!;
            expect(
              { group: src.group, tensor: src.tensor, rows: src.rows },
              `${arch} ${setup} ${v.hook}`,
            ).toEqual({
              group: group.name,
              tensor: `${v.dict.name}.W_dec`,
              rows: v.width,
            });
            expect(src.chunk).toBe(v.chunk);
            expect(src.position).toBe(v.position);
          }
        } finally {
          set.dispose();
        }
      }
  });
});
