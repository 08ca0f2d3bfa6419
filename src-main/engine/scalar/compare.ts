/**
 * Comparing SCALAR scores between architectures (SPEC §4.4). "% reduction of X vs a baseline" =
 * (S_base − S_X) / S_base · 100 per pair, lower scores being better. Both runs are measured on the same
 * evaluation tokens, so the confidence interval comes from a *paired* bootstrap: one token resample is applied
 * to both per-token KL tables, and the reduction is recomputed from the two resampled curves.
 *
 * Aggregates over pairs add scores in one unit: Σ_pairs S_base vs Σ_pairs S_X. The paper's headline
 * aggregates appear to add numbers printed in different powers of ten (10⁴ and 10⁵); `paperStyle` reproduces
 * that (each pair's score reduced to its printed mantissa before summing) so the two can be shown side by side,
 * labelled.
 */
import { Rng } from '../random.ts';
import { scores, type ScalarScores } from './curve.ts';

export interface CurveData {
  grid: number[];
  /** Per-token KL at every budget, [grid] × [tokens]. */
  perTokenKl: Float32Array[];
  f0: number;
  f1: number;
}

export type ScoreKey = keyof ScalarScores;
const KEYS: ScoreKey[] = ['auc_abs', 'auc_rel', 'auc_log2'];

export const reductionPct = (base: number, x: number) => (100 * (base - x)) / base;

export interface PairComparison {
  reduction_abs_pct: number;
  reduction_rel_pct: number;
  reduction_log2_pct: number;
  /** 95 % paired-bootstrap intervals. */
  reduction_abs_ci: [number, number];
  reduction_rel_ci: [number, number];
  reduction_log2_ci: [number, number];
}

function resampledScores(c: CurveData, pick: Int32Array): ScalarScores {
  const n = pick.length;
  const curve = c.perTokenKl.map((v) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += v[pick[i]];
    return s / n;
  });
  return scores(c.grid, curve, c.f0, c.f1);
}

export function comparePair(
  baseline: CurveData,
  other: CurveData,
  resamples: number,
  seed: number,
): PairComparison {
  const tokens = baseline.perTokenKl[0].length;
  if (other.perTokenKl[0].length !== tokens)
    throw new Error('a paired comparison needs both curves measured on the same evaluation tokens');
  const identity = Int32Array.from({ length: tokens }, (_, i) => i);
  const b0 = resampledScores(baseline, identity);
  const x0 = resampledScores(other, identity);
  const draws: Record<ScoreKey, number[]> = { auc_abs: [], auc_rel: [], auc_log2: [] };
  const rng = Rng.derive(seed, 'paired-bootstrap');
  const pick = new Int32Array(tokens);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < tokens; i++) pick[i] = rng.int(tokens);
    const b = resampledScores(baseline, pick);
    const x = resampledScores(other, pick);
    for (const k of KEYS) draws[k].push(reductionPct(b[k], x[k]));
  }
  const ci = (v: number[]): [number, number] => {
    if (v.length === 0) return [NaN, NaN];
    v.sort((a, c) => a - c);
    return [v[Math.floor(0.025 * v.length)], v[Math.min(v.length - 1, Math.floor(0.975 * v.length))]];
  };
  return {
    reduction_abs_pct: reductionPct(b0.auc_abs, x0.auc_abs),
    reduction_rel_pct: reductionPct(b0.auc_rel, x0.auc_rel),
    reduction_log2_pct: reductionPct(b0.auc_log2, x0.auc_log2),
    reduction_abs_ci: ci(draws.auc_abs),
    reduction_rel_ci: ci(draws.auc_rel),
    reduction_log2_ci: ci(draws.auc_log2),
  };
}

/** A score written as the paper prints it: the mantissa in its own power of ten (e.g. 3.2 for 3.2 × 10⁵). */
export function printedMantissa(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  return x / 10 ** Math.floor(Math.log10(Math.abs(x)));
}

export interface Aggregate {
  /** Σ S_base vs Σ S_X in one unit. */
  reduction_pct: number;
  /** The paper-style aggregate: per-pair scores summed as printed (mantissas of mixed powers of ten). */
  paper_style_reduction_pct: number;
}

export function aggregate(baseline: number[], other: number[]): Aggregate {
  const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);
  return {
    reduction_pct: reductionPct(sum(baseline), sum(other)),
    paper_style_reduction_pct: reductionPct(
      sum(baseline.map(printedMantissa)),
      sum(other.map(printedMantissa)),
    ),
  };
}

/** Mean and sample standard deviation across seeds. */
export function meanSd(values: number[]): { mean: number; sd: number; n: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, n };
}
