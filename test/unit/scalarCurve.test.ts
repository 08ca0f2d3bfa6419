/**
 * SCALAR curve, scores and rankings (SPEC §4.2, §4.4): the edge grid, trapezoid areas on linear and log₂ axes,
 * the seeded bootstrap, per-token KL with its 1e-8 terms, the edge ranking, and kept sets — all against values
 * worked out by hand or against properties.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import {
  bootstrapMean,
  edgeGrid,
  gridFor,
  klRow,
  scores,
  scoresWithCi,
  trapezoid,
} from '../../src-main/engine/scalar/curve.ts';
import { topEdges } from '../../src-main/engine/scalar/evaluate.ts';
import { perTokenKl } from '../../src-main/engine/scalar/pair.ts';
import {
  groupByKeptSet,
  keptSets,
  randomRanking,
  rankByScore,
} from '../../src-main/engine/scalar/ranking.ts';
import { expectClose, TestRng } from './lm.helpers.ts';
import { kl64 } from './scalar.helpers.ts';

beforeAll(async () => {
  await initBackend();
});

/** SPEC §4.4, verbatim: the 35 deduplicated integers of logspace(0, log₁₀ 2¹⁸, 37). */
const PAPER_GRID = [
  1, 2, 4, 5, 7, 11, 16, 22, 32, 45, 63, 90, 127, 181, 256, 362, 512, 724, 1024, 1448, 2048, 2896, 4095, 5792,
  8191, 11585, 16383, 23170, 32768, 46340, 65536, 92681, 131072, 185363, 262144,
];

describe('edge grid', () => {
  it("edgeGrid(2¹⁸) is SPEC §4.4's 35 values", () => {
    expect(PAPER_GRID).toHaveLength(35);
    expect(edgeGrid(2 ** 18)).toEqual(PAPER_GRID);
    expect(gridFor('paper', 512, 512)).toEqual(PAPER_GRID);
  });

  it('the paper grid of a smaller pair stops at its edge count; a larger pair still stops at 2¹⁸', () => {
    expect(gridFor('paper', 12, 12)).toEqual(PAPER_GRID.filter((n) => n <= 144));
    expect(gridFor('paper', 512, 1024)).toEqual(PAPER_GRID);
  });

  it("gridFor('full', f0, f1) is increasing from 1 and ends exactly at F₀·F₁ (the full circuit)", () => {
    // TopK ×8, ffblock staircase (2¹⁹), tblock staircase pairs 512²(l+1)(l+2), and small test sizes — several
    // of which (64, 128, 512²·12) make 10^(log₁₀ E) round just below E.
    const sizes: [number, number][] = [
      [512, 512],
      [512, 1024],
      [512, 1024],
      [1024, 1536],
      [1536, 2048],
      [2048, 2560],
      [8, 8],
      [8, 16],
      [12, 12],
      [6, 12],
      [12, 18],
      [3, 5],
    ];
    for (const [f0, f1] of sizes) {
      const g = gridFor('full', f0, f1);
      expect(g[0]).toBe(1);
      expect(g.at(-1), `${f0}×${f1}`).toBe(f0 * f1);
      expect(g.length).toBeLessThanOrEqual(37);
      for (let i = 1; i < g.length; i++) expect(g[i]).toBeGreaterThan(g[i - 1]);
      expect(g.every(Number.isInteger)).toBe(true);
    }
  });
});

describe('areas (absolute, relative, log₂)', () => {
  it('trapezoid of a piecewise-linear curve, worked by hand; scores on linear and log₂ axes', () => {
    const x = [1, 2, 4, 8];
    const y = [4, 2, 2, 0];
    // Linear axis: 1·(4+2)/2 + 2·(2+2)/2 + 4·(2+0)/2 = 3 + 4 + 4 = 11.
    expect(trapezoid(x, y)).toBe(11);
    // log₂ axis: x ↦ 0, 1, 2, 3: (4+2)/2 + (2+2)/2 + (2+0)/2 = 3 + 2 + 1 = 6.
    const s = scores(x, y, 4, 5);
    expect(s.auc_abs).toBe(11);
    expect(s.auc_rel).toBe(11 / 20);
    expect(s.auc_log2).toBe(6);
  });

  it('is exact for a linear function: ∫ (a + b x) dx on any increasing grid', () => {
    const grid = PAPER_GRID;
    const a = 0.7;
    const b = -2e-6;
    const exact = a * (262144 - 1) + (b * (262144 ** 2 - 1)) / 2;
    expect(
      trapezoid(
        grid,
        grid.map((n) => a + b * n),
      ),
    ).toBeCloseTo(exact, 6);
    // Constant KL c over [1, E]: absolute c·(E − 1), relative c·(E − 1)/E, log₂ c·log₂ E.
    const s = scores(
      grid,
      grid.map(() => 0.25),
      512,
      512,
    );
    expect(s.auc_abs).toBeCloseTo(0.25 * 262143, 9);
    expect(s.auc_rel).toBeCloseTo((0.25 * 262143) / 262144, 12);
    expect(s.auc_log2).toBeCloseTo(0.25 * 18, 12);
  });
});

describe('bootstrap', () => {
  const rng = new TestRng(5);
  const sample = Array.from({ length: 400 }, () => rng.normal() * 2 + 1);
  const mean = sample.reduce((a, c) => a + c, 0) / sample.length;

  it('the mean is the plain mean; the same seed gives the same interval, other seeds differ', () => {
    const a = bootstrapMean(sample, 500, 42);
    const b = bootstrapMean(Float64Array.from(sample), 500, 42);
    expect(a.mean).toBeCloseTo(mean, 12);
    expect(b).toEqual(a);
    const c = bootstrapMean(sample, 500, 43);
    expect([c.lo, c.hi]).not.toEqual([a.lo, a.hi]);
    expect(c.mean).toBe(a.mean);
  });

  it('the 95 % interval contains the mean and has the normal-theory width ≈ 2·1.96·sd/√n', () => {
    const sd = Math.sqrt(sample.reduce((a, c) => a + (c - mean) ** 2, 0) / (sample.length - 1));
    const { lo, hi } = bootstrapMean(sample, 2000, 1);
    expect(lo).toBeLessThan(mean);
    expect(hi).toBeGreaterThan(mean);
    const width = (2 * 1.96 * sd) / Math.sqrt(sample.length);
    expect(hi - lo).toBeGreaterThan(0.8 * width);
    expect(hi - lo).toBeLessThan(1.2 * width);
  });

  it('a large constant sample has a degenerate interval; no resamples gives the mean as both ends', () => {
    const constant = new Float32Array(10_000).fill(0.375);
    expect(bootstrapMean(constant, 200, 3)).toEqual({ mean: 0.375, lo: 0.375, hi: 0.375 });
    const none = bootstrapMean(sample, 0, 3);
    expect(none.mean).toBeCloseTo(mean, 12);
    expect([none.lo, none.hi]).toEqual([none.mean, none.mean]);
  });

  it('scoresWithCi: point scores as scores(), intervals contain them on a smooth case, reproducible', () => {
    // A smooth decreasing curve per token: KL_t(N) = u_t / (1 + N/100), u_t > 0 random.
    const grid = gridFor('paper', 64, 64);
    const r = new TestRng(8);
    const u = Float32Array.from({ length: 300 }, () => 0.5 + r.uniform());
    const perToken = grid.map((n) => Float32Array.from(u, (v) => v / (1 + n / 100)));
    const meanCurve = perToken.map((v) => v.reduce((a, c) => a + c, 0) / v.length);
    const point = scores(grid, meanCurve, 64, 64);
    const s = scoresWithCi(grid, perToken, 64, 64, 400, 9);
    expect(s.auc_abs).toBeCloseTo(point.auc_abs, 6);
    expect(s.auc_log2).toBeCloseTo(point.auc_log2, 9);
    for (const [v, ci] of [
      [s.auc_abs, s.auc_abs_ci],
      [s.auc_rel, s.auc_rel_ci],
      [s.auc_log2, s.auc_log2_ci],
    ] as const) {
      expect(ci[0]).toBeLessThan(v);
      expect(ci[1]).toBeGreaterThan(v);
    }
    // Relative interval = absolute interval / (F₀·F₁).
    expect(s.auc_rel_ci[0]).toBeCloseTo(s.auc_abs_ci[0] / 4096, 12);
    expect(scoresWithCi(grid, perToken, 64, 64, 400, 9)).toEqual(s);
    // Every token's curve is u_t times the same shape, so the area's interval is the mean's interval × area(shape).
    const shape = scores(
      grid,
      grid.map((n) => 1 / (1 + n / 100)),
      64,
      64,
    );
    const um = u.reduce((a, c) => a + c, 0) / u.length;
    expect(s.auc_abs).toBeCloseTo(um * shape.auc_abs, 3);
  });
});

describe('per-token KL (SPEC §4.4)', () => {
  it('klRow by hand, including the 1e-8 terms', () => {
    // P = (½, ½, 0), Q = (¼, ¼, ½): 2 · ½ log((½+1e-8)/(¼+1e-8)); the P = 0 entry adds nothing.
    expect(klRow([0.5, 0.5, 0], [0.25, 0.25, 0.5])).toBeCloseTo(Math.log((0.5 + 1e-8) / (0.25 + 1e-8)), 15);
    // Q = 0 where P = 1: finite thanks to the 1e-8: log((1 + 1e-8)/1e-8) = log(1e8 + 1) ≈ 18.42.
    expect(klRow([1, 0], [0, 1])).toBeCloseTo(Math.log(1e8 + 1), 10);
    expect(klRow([0.3, 0.7], [0.3, 0.7])).toBe(0);
    // offset/V select one row of a flat [rows, V] array.
    const p = [9, 9, 0.2, 0.8];
    const q = [9, 9, 0.4, 0.6];
    expect(klRow(p, q, 2, 2)).toBeCloseTo(
      0.2 * Math.log((0.2 + 1e-8) / (0.4 + 1e-8)) + 0.8 * Math.log((0.8 + 1e-8) / (0.6 + 1e-8)),
      15,
    );
  });

  it('perTokenKl (softmax of logits) matches the float64 formula', async () => {
    const r = new TestRng(3);
    const V = 7;
    const a = r.normals(2 * 3 * V, 2);
    const b = r.normals(2 * 3 * V, 2);
    // A token where Q puts almost nothing on P's mode: the 1e-8 floor matters.
    b[0] = -40;
    a[0] = 10;
    const got = await perTokenKl(tf.tensor3d(a, [2, 3, V]), tf.tensor3d(b, [2, 3, V]));
    expectClose(got, kl64(a, b, V), { rtol: 1e-5, atol: 1e-6 });
    expect(got[0]).toBeGreaterThan(15);
  });
});

describe('edge ranking and kept sets', () => {
  it('positive scores descending, ties by edge index, then zeros in a seeded reproducible order', () => {
    const s = Float32Array.from([0, 3, 1, 0, 3, 0, 2, 0, 0, 5, 0, 0]);
    const r = rankByScore(s, 11);
    // Positives by hand: 5 (edge 9), 3 (edges 1 and 4: lower index first), 2 (edge 6), 1 (edge 2).
    expect(Array.from(r.slice(0, 5))).toEqual([9, 1, 4, 6, 2]);
    const zeros = [0, 3, 5, 7, 8, 10, 11];
    expect(Array.from(r.slice(5)).sort((a, b) => a - b)).toEqual(zeros);
    expect(Array.from(rankByScore(s, 11))).toEqual(Array.from(r));
    // Another seed orders the zeros differently (7! orders; these two seeds differ).
    const other = Array.from({ length: 20 }, (_, seed) => Array.from(rankByScore(s, seed).slice(5)).join());
    expect(new Set(other).size).toBeGreaterThan(1);
    // The zeros are not simply in index order (they are shuffled).
    expect(other.some((o) => o !== zeros.join())).toBe(true);
  });

  it('random ranking: a seeded permutation of all edges', () => {
    const a = randomRanking(100, 4);
    expect(Array.from(a).sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, e) => e));
    expect(randomRanking(100, 4)).toEqual(a);
    expect(Array.from(randomRanking(100, 5))).not.toEqual(Array.from(a));
  });

  it('keptSets and groupByKeptSet on a hand example (F₁ = 3, edge e = i·3 + j)', () => {
    // Ranking: (1,2), (0,2), (2,0), (1,0), (0,1), (2,2), (1,1) as edges 5, 2, 6, 3, 1, 8, 4.
    const ranking = Int32Array.from([5, 2, 6, 3, 1, 8, 4]);
    const norm = (m: Map<number, number[]>) => [...m.entries()].sort((a, b) => a[0] - b[0]);
    expect(norm(keptSets(ranking, 0, 3))).toEqual([]);
    // Top 4: U(2) = {0, 1}, U(0) = {1, 2}; latent 1 has no kept edge.
    expect(norm(keptSets(ranking, 4, 3))).toEqual([
      [0, [1, 2]],
      [2, [0, 1]],
    ]);
    // Top 7: U(0) = {1, 2}, U(1) = {0, 1}, U(2) = {0, 1, 2}.
    const sets = keptSets(ranking, 7, 3);
    expect(norm(sets)).toEqual([
      [0, [1, 2]],
      [1, [0, 1]],
      [2, [0, 1, 2]],
    ]);
    const groups = (m: Map<number, number[]>) =>
      groupByKeptSet(m)
        .map((g) => ({ upstream: g.upstream, downstream: [...g.downstream].sort() }))
        .sort((a, b) => a.downstream[0] - b.downstream[0]);
    expect(groups(sets)).toEqual([
      { upstream: [1, 2], downstream: [0] },
      { upstream: [0, 1], downstream: [1] },
      { upstream: [0, 1, 2], downstream: [2] },
    ]);
    // Latents sharing a kept set form one group (one segment pass): here U(0) = U(2) = {0, 1}, U(1) = {1}.
    const shared = Int32Array.from([0, 3, 2, 5, 4]); // (0,0), (1,0), (0,2), (1,2), (1,1)
    expect(groups(keptSets(shared, 5, 3))).toEqual([
      { upstream: [0, 1], downstream: [0, 2] },
      { upstream: [1], downstream: [1] },
    ]);
  });

  it('topEdges: (rank, i, j, score) of the first edges of a ranking', () => {
    const scoresArr = Float32Array.from([0, 0.5, 0, 2, 0, 1]); // F₁ = 3
    const r = rankByScore(scoresArr, 0);
    const top = topEdges(r, scoresArr, 3, 2);
    // Edge 3 = (1, 0) scores 2; edge 5 = (1, 2) scores 1.
    expect(Array.from(top.i)).toEqual([1, 1]);
    expect(Array.from(top.j)).toEqual([0, 2]);
    expect(Array.from(top.score)).toEqual([2, 1]);
    expect(Array.from(topEdges(r, null, 3, 10).score)).toEqual(new Array(6).fill(0));
  });
});
