/**
 * SCALAR comparisons (SPEC §4.4): % reduction, aggregates in one unit beside the paper-style aggregate of
 * printed mantissas, the paired bootstrap, and mean ± sd across seeds — by hand and by exact properties.
 */
import { describe, expect, it } from 'vitest';

import {
  aggregate,
  comparePair,
  meanSd,
  printedMantissa,
  reductionPct,
  type CurveData,
} from '../../src-main/engine/scalar/compare.ts';
import { gridFor } from '../../src-main/engine/scalar/curve.ts';
import { TestRng } from './lm.helpers.ts';

/** A noisy decreasing curve per token on the paper grid of a 64 × 64 pair. */
function curve(seed: number, tokens = 120): CurveData {
  const grid = gridFor('paper', 64, 64);
  const r = new TestRng(seed);
  const u = Array.from({ length: tokens }, () => 0.2 + r.uniform());
  return {
    grid,
    perTokenKl: grid.map((n) => Float32Array.from(u, (v) => (v * (1 + 0.3 * r.uniform())) / Math.sqrt(n))),
    f0: 64,
    f1: 64,
  };
}

describe('reductionPct, printedMantissa, aggregate', () => {
  it('% reduction = (S_base − S_X)/S_base · 100', () => {
    expect(reductionPct(200, 50)).toBe(75);
    expect(reductionPct(100, 150)).toBe(-50);
    expect(reductionPct(4, 4)).toBe(0);
  });

  it('printed mantissas: the number in its own power of ten', () => {
    expect(printedMantissa(3.2e5)).toBeCloseTo(3.2, 12);
    expect(printedMantissa(4.0e4)).toBeCloseTo(4.0, 12);
    expect(printedMantissa(-602.15)).toBeCloseTo(-6.0215, 12);
    expect(printedMantissa(0.00999)).toBeCloseTo(9.99, 12);
    expect(printedMantissa(0)).toBe(0);
  });

  it('aggregate in one unit vs paper-style: scores 3.2e5 and 4.0e4 against 1.6e5 and 3.0e4', () => {
    const agg = aggregate([3.2e5, 4.0e4], [1.6e5, 3.0e4]);
    // One unit: (360,000 − 190,000)/360,000 = 47.22 %.
    expect(agg.reduction_pct).toBeCloseTo((100 * 170_000) / 360_000, 10);
    // Paper style: printed 3.2 + 4.0 = 7.2 vs 1.6 + 3.0 = 4.6 → (7.2 − 4.6)/7.2 = 36.11 %.
    expect(agg.paper_style_reduction_pct).toBeCloseTo((100 * 2.6) / 7.2, 10);
    // Equal units: both agree.
    const same = aggregate([2e5, 4e5], [1e5, 3e5]);
    expect(same.reduction_pct).toBeCloseTo(same.paper_style_reduction_pct, 10);
  });

  it('meanSd: mean and sample standard deviation (n − 1) by hand', () => {
    // Σ = 40, mean 5; Σ(v − 5)² = 9 + 1 + 1 + 1 + 0 + 0 + 4 + 16 = 32; sd = √(32/7).
    const r = meanSd([2, 4, 4, 4, 5, 5, 7, 9]);
    expect(r.mean).toBe(5);
    expect(r.sd).toBeCloseTo(Math.sqrt(32 / 7), 12);
    expect(r.n).toBe(8);
    expect(meanSd([3.5])).toEqual({ mean: 3.5, sd: 0, n: 1 });
  });
});

describe('comparePair (paired bootstrap over shared evaluation tokens)', () => {
  it('a curve against itself: 0 % on every scale with zero-width intervals', () => {
    const c = curve(1);
    const r = comparePair(c, c, 200, 3);
    for (const k of ['abs', 'rel', 'log2'] as const) {
      expect(r[`reduction_${k}_pct`]).toBe(0);
      expect(r[`reduction_${k}_ci`]).toEqual([0, 0]);
    }
  });

  it('halving every per-token KL of the other curve: exactly 50 % on every scale, in every resample', () => {
    const base = curve(2);
    const half = { ...base, perTokenKl: base.perTokenKl.map((v) => v.map((x) => x / 2)) };
    const r = comparePair(base, half, 200, 3);
    for (const k of ['abs', 'rel', 'log2'] as const) {
      // Halving is exact in binary floating point, so every sum and area halves exactly; only the final
      // 100·(b − b/2)/b may round by an ulp.
      expect(r[`reduction_${k}_pct`]).toBeCloseTo(50, 12);
      expect(r[`reduction_${k}_ci`][0]).toBeCloseTo(50, 12);
      expect(r[`reduction_${k}_ci`][1]).toBeCloseTo(50, 12);
    }
  });

  it('a noisy comparison: the point estimate matches the areas by hand and lies inside its interval', () => {
    const base = curve(3);
    const other = curve(4);
    const area = (c: CurveData, logAxis: boolean) => {
      const x = logAxis ? c.grid.map(Math.log2) : c.grid;
      const y = c.perTokenKl.map((v) => v.reduce((a, b) => a + b, 0) / v.length);
      let s = 0;
      for (let i = 1; i < x.length; i++) s += ((x[i] - x[i - 1]) * (y[i] + y[i - 1])) / 2;
      return s;
    };
    const r = comparePair(base, other, 300, 5);
    const abs = (100 * (area(base, false) - area(other, false))) / area(base, false);
    const log2 = (100 * (area(base, true) - area(other, true))) / area(base, true);
    expect(r.reduction_abs_pct).toBeCloseTo(abs, 8);
    // Relative = absolute / (F₀·F₁) for both curves: the same % reduction.
    expect(r.reduction_rel_pct).toBeCloseTo(abs, 8);
    expect(r.reduction_log2_pct).toBeCloseTo(log2, 8);
    expect(r.reduction_abs_ci[0]).toBeLessThan(r.reduction_abs_pct);
    expect(r.reduction_abs_ci[1]).toBeGreaterThan(r.reduction_abs_pct);
    expect(comparePair(base, other, 300, 5)).toEqual(r);
  });

  it('refuses curves measured on different tokens', () => {
    expect(() => comparePair(curve(1, 100), curve(2, 90), 10, 0)).toThrow(/same evaluation tokens/);
  });
});
