/**
 * The comparer's Api methods (spread into ApiMethods in ../api.ts). `compare.scalar` is `scalar compare`'s code
 * path (src-main/jobs/scalarResults.ts compareRuns): per-pair % reductions of run vs baseline with paired-bootstrap
 * CIs, the one-unit aggregate and the labelled paper-style aggregate. `compare.metrics` summarises every recorded
 * metric of several runs in one request (final, best, min, max, value at a step).
 */
import { z } from 'zod';

/** NaN / ±∞ (a zero baseline, no resamples) travel as null. */
const num = z.number().nullable();
const ci = z.tuple([num, num]);

/** Defaults of `scalar compare` (the page uses them too, so both print the same numbers). */
export const COMPARE_DEFAULTS = { resamples: 1000, seed: 0 } as const;

export const PairReductionSchema = z.object({
  pair: z.number(),
  label: z.string(),
  reduction_abs_pct: num,
  reduction_rel_pct: num,
  reduction_log2_pct: num,
  reduction_abs_ci: ci,
  reduction_rel_ci: ci,
  reduction_log2_ci: ci,
});
export type PairReduction = z.infer<typeof PairReductionSchema>;

const AggregateSchema = z.object({
  /** Σ S_base vs Σ S_X in one unit. */
  reduction_pct: num,
  /** Per-pair scores summed as the paper prints them (mantissas of mixed powers of ten); labelled as such. */
  paper_style_reduction_pct: num,
});

export const ScalarComparisonSchema = z.object({
  run: z.string(),
  baseline: z.string(),
  resamples: z.number(),
  seed: z.number(),
  pairs: z.array(PairReductionSchema),
  aggregate: z.object({ abs: AggregateSchema, rel: AggregateSchema }),
});
export type ScalarComparison = z.infer<typeof ScalarComparisonSchema>;

export const MetricSummarySchema = z.object({
  scope: z.string(),
  key: z.string(),
  count: z.number(),
  final: num,
  finalStep: num,
  best: num,
  bestStep: num,
  min: num,
  max: num,
  atStep: num,
  atStepStep: num,
});
export type MetricSummary = z.infer<typeof MetricSummarySchema>;

export const CompareApiMethods = {
  'compare.scalar': {
    params: z.object({
      run: z.string(),
      baseline: z.string(),
      resamples: z.number().int().min(0).max(20_000).optional(),
      seed: z.number().int().nonnegative().optional(),
    }),
    result: ScalarComparisonSchema,
  },
  'compare.metrics': {
    params: z.object({
      ids: z.array(z.string()).min(1).max(500),
      /** Also report each metric's value at this step (the last recorded step ≤ it). */
      step: z.number().int().nonnegative().optional(),
    }),
    result: z.array(z.object({ run: z.string(), metrics: z.array(MetricSummarySchema) })),
  },
} as const;
