/**
 * Recovery metrics and verdict rules of the planted-circuit validation (issue 15), on cases worked out by hand
 * in the comments.
 */
import { describe, expect, it } from 'vitest';
import {
  auroc,
  averageRanks,
  precisionAt,
  rankStrengthSpearman,
  recallAt,
  spearman,
} from '../../src-main/engine/validation/metrics.ts';
import { THRESHOLDS, verdictOf } from '../../src-main/engine/validation/report.ts';

// Six edges ranked 3, 0, 4, 1, 2, 5; the true edges are 0, 1 and 3.
const RANKING = Int32Array.from([3, 0, 4, 1, 2, 5]);
const TRUTH = Uint8Array.from([1, 1, 0, 1, 0, 0]);

describe('precision and recall at N', () => {
  it('count the true edges among the top N', () => {
    // Top 3 = {3, 0, 4}: two of them true → 2/3 both ways (N = |E| makes precision and recall equal).
    expect(precisionAt(RANKING, TRUTH, 3)).toBeCloseTo(2 / 3, 12);
    expect(recallAt(RANKING, TRUTH, 3)).toBeCloseTo(2 / 3, 12);
    // Top 2 = {3, 0}: both true; recall 2/3.
    expect(precisionAt(RANKING, TRUTH, 2)).toBe(1);
    expect(recallAt(RANKING, TRUTH, 2)).toBeCloseTo(2 / 3, 12);
    // Top 5 holds all three true edges.
    expect(recallAt(RANKING, TRUTH, 5)).toBe(1);
    expect(precisionAt(RANKING, TRUTH, 5)).toBeCloseTo(3 / 5, 12);
  });
});

describe('AUROC', () => {
  it('is the fraction of (true, false) pairs ranked the right way round', () => {
    // Edge 3 (position 0) and edge 0 (position 1) are above all three false edges 4, 2, 5: 3 + 3 pairs;
    // edge 1 (position 3) is above 2 and 5 only: 2 pairs. 8 of 3 × 3.
    expect(auroc(RANKING, TRUTH)).toBeCloseTo(8 / 9, 12);
  });
  it('is 1 for a perfect ranking, 0 for the reverse, NaN with one class', () => {
    expect(auroc(Int32Array.from([0, 1, 3, 2, 4, 5]), TRUTH)).toBe(1);
    expect(auroc(Int32Array.from([5, 4, 2, 3, 1, 0]), TRUTH)).toBe(0);
    expect(auroc(RANKING, new Uint8Array(6))).toBeNaN();
  });
});

describe('Spearman', () => {
  it('gives tied values their average rank', () => {
    expect([...averageRanks([2, 1, 2])]).toEqual([2.5, 1, 2.5]);
    expect([...averageRanks([7, 3, 5, 3])]).toEqual([4, 1.5, 3, 1.5]);
  });
  it('is the Pearson correlation of the ranks', () => {
    // y = 5 6 7 8 7 → ranks 1 2 3.5 5 3.5; x ranks 1..5. Deviations from 3: x −2 −1 0 1 2, y −2 −1 .5 2 .5;
    // Σxy = 4 + 1 + 0 + 2 + 1 = 8, Σx² = 10, Σy² = 4 + 1 + .25 + 4 + .25 = 9.5 → ρ = 8/√95.
    expect(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])).toBeCloseTo(8 / Math.sqrt(95), 12);
    expect(spearman([1, 2, 3], [30, 20, 10])).toBeCloseTo(-1, 12);
    expect(spearman([1, 1, 1], [1, 2, 3])).toBeNaN();
  });
  it('of a ranking against the true strength, over the true edges only', () => {
    // True edges in ranking order: 3, 0, 1 with strengths 0.1, 0.5, 0.9 — the exact reverse of by-strength.
    const strength = [0.5, 0.9, 100, 0.1, 100, 100];
    expect(rankStrengthSpearman(RANKING, TRUTH, strength)).toBeCloseTo(-1, 12);
    expect(rankStrengthSpearman(Int32Array.from([1, 2, 0, 4, 3, 5]), TRUTH, strength)).toBeCloseTo(1, 12);
  });
  it('refuses arrays of different lengths', () => {
    expect(() => spearman([1, 2], [1])).toThrow(/equal lengths \(got 2 and 1\)/);
  });
});

describe('verdicts', () => {
  const ok = { precision: 0.9, recall: 0.9, auroc: 0.95, spearman: 0.6, curveRatio: 1.05 };
  const none = { precision: 0, recall: 0, auroc: 0, spearman: 0, curveRatio: 0 };
  it('fail below the absolute floors', () => {
    const v = verdictOf({ ...ok, precision: 0.4 }, none);
    expect(v.verdict).toBe('fails');
    expect(v.reasons).toEqual([`precision 0.400 < ${THRESHOLDS.failPrecision}`]);
    expect(verdictOf({ ...ok, auroc: 0.7 }, none).verdict).toBe('fails');
    expect(verdictOf({ ...ok, curveRatio: 1.6 }, none).verdict).toBe('fails');
  });
  it('degrade on a drop from the baseline beyond the margins', () => {
    const v = verdictOf(ok, { ...none, precision: -0.2, spearman: -0.1 });
    expect(v.verdict).toBe('degrades');
    expect(v.reasons).toHaveLength(1);
    expect(v.reasons[0]).toMatch(/^precision -0.200 vs baseline/);
    expect(verdictOf(ok, { ...none, curveRatio: 0.2 }).verdict).toBe('degrades');
    expect(verdictOf(ok, { ...none, spearman: -0.25 }).verdict).toBe('degrades');
  });
  it('hold otherwise', () => {
    expect(verdictOf(ok, { ...none, precision: -0.05, auroc: -0.01, curveRatio: 0.1 })).toEqual({
      verdict: 'holds',
      reasons: [],
    });
  });
});
