/** Reading a completed SCALAR run's results back: per-pair scores and per-token KL tables. */
import path from 'node:path';
import { readSafetensorsFile } from '../engine/io/safetensors.ts';
import {
  aggregate,
  comparePair,
  meanSd,
  type CurveData,
  type PairComparison,
} from '../engine/scalar/compare.ts';
import { isWithoutWeights, withoutWeightsMessage } from '../../src-shared/bundle.ts';
import { runArtifactsDir, type RunRecord, type Store } from '../store/index.ts';

export interface ScalarPairSummary {
  pair: number;
  label: string;
  f0: number;
  f1: number;
  scalar_auc_abs: number;
  scalar_auc_rel: number;
  scalar_auc_log2: number;
}

export function scalarPairs(run: RunRecord): ScalarPairSummary[] {
  if (run.kind !== 'scalar' || run.status !== 'completed')
    throw new Error(`run ${run.id} is a ${run.status} ${run.kind} run, not a completed SCALAR run`);
  return (run.summary as { eval_result_metrics: { pairs: ScalarPairSummary[] } }).eval_result_metrics.pairs;
}

/** Per-token KL tables of a completed SCALAR run, by pair index. */
export function scalarCurveData(dataDir: string, run: RunRecord): Map<number, CurveData> {
  const out = new Map<number, CurveData>();
  if (isWithoutWeights(run))
    throw new Error(
      withoutWeightsMessage(run, 'its paired comparison (which reads the per-token KL) cannot be computed'),
    );
  for (const p of scalarPairs(run)) {
    const t = readSafetensorsFile(
      path.join(runArtifactsDir(dataDir, run.id), `pair${p.pair}`, 'kl.safetensors'),
    ).tensors;
    const [G, N] = t.per_token_kl.shape;
    const kl = t.per_token_kl.data as Float32Array;
    out.set(p.pair, {
      grid: Array.from(t.grid.data as Int32Array),
      perTokenKl: Array.from({ length: G }, (_, g) => kl.subarray(g * N, (g + 1) * N)),
      f0: p.f0,
      f1: p.f1,
    });
  }
  return out;
}

export interface RunComparison {
  run: string;
  baseline: string;
  pairs: ({ pair: number; label: string } & PairComparison)[];
  aggregate: { abs: ReturnType<typeof aggregate>; rel: ReturnType<typeof aggregate> };
}

/**
 * X vs baseline per shared pair (paired bootstrap) plus the aggregates; recorded in the comparisons table unless
 * `record: false` (the compare page's reads, which would otherwise add the same rows on every view).
 */
export function compareRuns(
  store: Store,
  runId: string,
  baselineId: string,
  resamples: number,
  seed: number,
  opts: { record?: boolean } = {},
): RunComparison {
  const c = compareRecords(
    store.dataDir,
    store.requireRun(runId),
    store.requireRun(baselineId),
    resamples,
    seed,
  );
  if (opts.record !== false)
    store.recordComparisons(
      c.pairs.flatMap((p) =>
        (['reduction_abs_pct', 'reduction_rel_pct', 'reduction_log2_pct'] as const).map((metric) => ({
          runId,
          baselineRunId: baselineId,
          setup: p.label.split(':')[0],
          pair: p.label,
          metric,
          value: p[metric],
          meta: { ci: p[metric.replace('_pct', '_ci') as 'reduction_abs_ci'] },
        })),
      ),
    );
  return c;
}

/** The paired comparison of two run records, reading only their files (so a worker thread can run it). */
export function compareRecords(
  dataDir: string,
  run: RunRecord,
  base: RunRecord,
  resamples: number,
  seed: number,
): RunComparison {
  const x = scalarCurveData(dataDir, run);
  const b = scalarCurveData(dataDir, base);
  const xs = new Map(scalarPairs(run).map((p) => [p.pair, p]));
  const bs = new Map(scalarPairs(base).map((p) => [p.pair, p]));
  const shared = [...xs.keys()].filter((p) => bs.has(p)).sort((a, c) => a - c);
  if (shared.length === 0) throw new Error(`runs ${run.id} and ${base.id} share no pair`);
  const pairs = shared.map((p) => ({
    pair: p,
    label: xs.get(p)!.label,
    ...comparePair(b.get(p)!, x.get(p)!, resamples, seed),
  }));
  const col = (m: Map<number, ScalarPairSummary>, key: 'scalar_auc_abs' | 'scalar_auc_rel') =>
    shared.map((p) => m.get(p)![key]);
  return {
    run: run.id,
    baseline: base.id,
    pairs,
    aggregate: {
      abs: aggregate(col(bs, 'scalar_auc_abs'), col(xs, 'scalar_auc_abs')),
      rel: aggregate(col(bs, 'scalar_auc_rel'), col(xs, 'scalar_auc_rel')),
    },
  };
}

/** Several seeds: per pair and aggregate, mean ± sd of the reductions across the (run, baseline) pairs. */
export function acrossSeeds(comparisons: RunComparison[]) {
  const first = comparisons[0];
  return {
    pairs: first.pairs.map((p, i) => ({
      pair: p.pair,
      label: p.label,
      reduction_abs_pct: meanSd(comparisons.map((c) => c.pairs[i].reduction_abs_pct)),
      reduction_rel_pct: meanSd(comparisons.map((c) => c.pairs[i].reduction_rel_pct)),
    })),
    aggregate: {
      abs: meanSd(comparisons.map((c) => c.aggregate.abs.reduction_pct)),
      rel: meanSd(comparisons.map((c) => c.aggregate.rel.reduction_pct)),
      paper_style_abs: meanSd(comparisons.map((c) => c.aggregate.abs.paper_style_reduction_pct)),
      paper_style_rel: meanSd(comparisons.map((c) => c.aggregate.rel.paper_style_reduction_pct)),
    },
  };
}
