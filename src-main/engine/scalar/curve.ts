/**
 * The SCALAR curve and scores (SPEC §4.4): the edge grid, per-token KL, the mean-KL curve with seeded bootstrap
 * confidence intervals, and areas under it on a linear N axis (absolute SCALAR; relative = absolute / (F₀·F₁))
 * and on a log₂ N axis.
 */
import type { ScalarGrid } from '../../../src-shared/scalar.ts';
import { Rng } from '../random.ts';

/**
 * Deduplicated integers of numpy's logspace(0, log₁₀ eMax, 37), truncated as numpy's astype(int) does — except
 * the last point, which is eMax itself: 10^(log₁₀ E) rounds just below E for many E (64, 128, 512²·12, …),
 * and truncating it would stop a `full` grid one edge short of the full circuit (2¹⁸ is unaffected).
 */
export function edgeGrid(eMax: number, points = 37): number[] {
  const step = Math.log10(eMax) / (points - 1);
  const values = Array.from({ length: points }, (_, i) =>
    i === points - 1 ? eMax : Math.trunc(10 ** (i * step)),
  );
  return [...new Set(values)];
}

/**
 * The paper's toy grid (E_max = 2¹⁸: 35 budgets), its GPT-2 range (`gpt2-paper`: E_max = 10⁶,
 * 1 2 3 4 6 10 14 21 31 46 68 100 … 681292 10⁶: 36 budgets), or `full` (E_max = F₀·F₁, so every curve reaches its full circuit).
 */
export function gridFor(kind: ScalarGrid, f0: number, f1: number): number[] {
  const eMax = kind === 'paper' ? 2 ** 18 : kind === 'gpt2-paper' ? 10 ** 6 : f0 * f1;
  return edgeGrid(eMax).filter((n) => n <= f0 * f1);
}

/** KL(P‖Q) = Σ_v P log((P + 1e-8)/(Q + 1e-8)) for one token's probability rows. */
export function klRow(p: ArrayLike<number>, q: ArrayLike<number>, offset = 0, V = p.length): number {
  let kl = 0;
  for (let v = 0; v < V; v++) {
    const pv = p[offset + v];
    kl += pv * Math.log((pv + 1e-8) / (q[offset + v] + 1e-8));
  }
  return kl;
}

export interface MeanWithCi {
  mean: number;
  lo: number;
  hi: number;
}

/**
 * Mean of `values` with a percentile bootstrap CI: `resamples` resamples of the per-token values drawn with a
 * seeded generator, so the same seed always gives the same interval.
 */
export function bootstrapMean(
  values: Float32Array | Float64Array | number[],
  resamples: number,
  seed: number,
  level = 0.95,
): MeanWithCi {
  const n = values.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i];
  const mean = sum / n;
  if (resamples <= 0 || n === 0) return { mean, lo: mean, hi: mean };
  const rng = Rng.derive(seed, 'bootstrap');
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[rng.int(n)];
    means[r] = s / n;
  }
  means.sort();
  const q = (p: number) => means[Math.min(resamples - 1, Math.max(0, Math.floor(p * resamples)))];
  return { mean, lo: q((1 - level) / 2), hi: q(1 - (1 - level) / 2) };
}

/** Trapezoid area under y(x) for increasing x. */
export function trapezoid(x: number[], y: number[]): number {
  let area = 0;
  for (let i = 1; i < x.length; i++) area += ((x[i] - x[i - 1]) * (y[i] + y[i - 1])) / 2;
  return area;
}

export interface ScalarScores {
  /** Area under mean KL vs N on a linear axis (the paper's absolute SCALAR). */
  auc_abs: number;
  /** auc_abs / (F₀·F₁). */
  auc_rel: number;
  /** Area under mean KL vs log₂ N (weights the sparse regime evenly per doubling). */
  auc_log2: number;
}

export function scores(grid: number[], meanKl: number[], f0: number, f1: number): ScalarScores {
  const auc = trapezoid(grid, meanKl);
  return { auc_abs: auc, auc_rel: auc / (f0 * f1), auc_log2: trapezoid(grid.map(Math.log2), meanKl) };
}

/**
 * Scores with bootstrap CIs: the same token resample is applied at every N (tokens are the unit), so each
 * resample yields one whole curve and one area; the CI is the percentile interval of those areas.
 */
export function scoresWithCi(
  grid: number[],
  perTokenKl: Float32Array[],
  f0: number,
  f1: number,
  resamples: number,
  seed: number,
  level = 0.95,
): ScalarScores & {
  auc_abs_ci: [number, number];
  auc_rel_ci: [number, number];
  auc_log2_ci: [number, number];
} {
  const n = perTokenKl[0].length;
  const mean = (v: Float32Array) => v.reduce((a, b) => a + b, 0) / n;
  const point = scores(grid, perTokenKl.map(mean), f0, f1);
  const rng = Rng.derive(seed, 'bootstrap-auc');
  const abs = new Float64Array(resamples);
  const log2 = new Float64Array(resamples);
  const pick = new Int32Array(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) pick[i] = rng.int(n);
    const curve = perTokenKl.map((v) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += v[pick[i]];
      return s / n;
    });
    const sc = scores(grid, curve, f0, f1);
    abs[r] = sc.auc_abs;
    log2[r] = sc.auc_log2;
  }
  const ci = (a: Float64Array): [number, number] => {
    if (resamples === 0) return [NaN, NaN];
    a.sort();
    const q = (p: number) => a[Math.min(resamples - 1, Math.max(0, Math.floor(p * resamples)))];
    return [q((1 - level) / 2), q(1 - (1 - level) / 2)];
  };
  const absCi = ci(abs);
  return {
    ...point,
    auc_abs_ci: absCi,
    auc_rel_ci: [absCi[0] / (f0 * f1), absCi[1] / (f0 * f1)],
    auc_log2_ci: ci(log2),
  };
}
