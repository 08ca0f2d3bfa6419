/** Series arithmetic of the comparer: EMA smoothing, and per-metric summaries (final, best, min, max, at step). */

export interface StepValue {
  step: number;
  value: number;
}

/**
 * Exponential moving average as W&B draws it: s₀ = v₀, sᵢ = α·sᵢ₋₁ + (1−α)·vᵢ with α the smoothing weight
 * (0 = none, 0.99 = heavy). Non-finite values are passed through without entering the average.
 */
export function ema<T extends { y: number }>(points: T[], weight: number): T[] {
  if (!(weight > 0)) return points;
  const a = Math.min(weight, 0.999);
  let s: number | null = null;
  return points.map((p) => {
    if (!Number.isFinite(p.y)) return p;
    s = s === null ? p.y : a * s + (1 - a) * p.y;
    return { ...p, y: s };
  });
}

/** Metrics where a larger value is better (everything else: smaller is better, as with losses). */
const HIGHER_IS_BETTER = /(^|_)(explained_variance|frac_alive|accuracy|acc|tokens_per_second|ev)$/;

export function higherIsBetter(key: string): boolean {
  return HIGHER_IS_BETTER.test(key);
}

export interface SeriesSummary {
  count: number;
  final: number | null;
  finalStep: number | null;
  best: number | null;
  bestStep: number | null;
  min: number | null;
  max: number | null;
  /** The value at the last recorded step ≤ the chosen step (null without a step or before the first). */
  atStep: number | null;
  atStepStep: number | null;
}

export function valueAtStep(points: StepValue[], step: number): StepValue | null {
  let found: StepValue | null = null;
  for (const p of points) if (p.step <= step && (found === null || p.step >= found.step)) found = p;
  return found;
}

export function summarizeSeries(points: StepValue[], key: string, step?: number | null): SeriesSummary {
  const pts = points.filter((p) => Number.isFinite(p.value)).sort((a, b) => a.step - b.step);
  if (pts.length === 0)
    return {
      count: 0,
      final: null,
      finalStep: null,
      best: null,
      bestStep: null,
      min: null,
      max: null,
      atStep: null,
      atStepStep: null,
    };
  let min = pts[0];
  let max = pts[0];
  for (const p of pts) {
    if (p.value < min.value) min = p;
    if (p.value > max.value) max = p;
  }
  const best = higherIsBetter(key) ? max : min;
  const last = pts[pts.length - 1];
  const at = step === undefined || step === null ? null : valueAtStep(pts, step);
  return {
    count: pts.length,
    final: last.value,
    finalStep: last.step,
    best: best.value,
    bestStep: best.step,
    min: min.value,
    max: max.value,
    atStep: at?.value ?? null,
    atStepStep: at?.step ?? null,
  };
}
