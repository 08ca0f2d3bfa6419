/**
 * The comparer's Api methods (src-shared/compare/api.ts): `compare.scalar` runs `scalar compare`'s own code
 * (compareRecords) without recording a row per view, in a worker thread (its paired bootstrap takes seconds and
 * must not hold up the server's event loop), and keeps the answer for identical requests (a completed run's
 * per-token KL tables never change); `compare.metrics` summarises every recorded metric of each run.
 */
import type { z } from 'zod';
import { CompareApiMethods, COMPARE_DEFAULTS, type ScalarComparison } from '../../src-shared/compare/api.ts';
import { summarizeSeries } from '../../src-shared/compare/series.ts';
import { compareRuns, type RunComparison } from '../jobs/scalarResults.ts';
import type { Store } from '../store/index.ts';
import type { CompareThread } from './compareThread.ts';

type Method = keyof typeof CompareApiMethods;
type Params<M extends Method> = z.infer<(typeof CompareApiMethods)[M]['params']>;
type Result<M extends Method> = z.infer<(typeof CompareApiMethods)[M]['result']>;

const finite = (v: number) => (Number.isFinite(v) ? v : null);
const pairOf = (ci: [number, number]): [number | null, number | null] => [finite(ci[0]), finite(ci[1])];

/** `scalar compare` (one run vs its baseline) in the Api's shape (NaN → null). */
export function apiComparison(c: RunComparison, resamples: number, seed: number): ScalarComparison {
  return {
    run: c.run,
    baseline: c.baseline,
    resamples,
    seed,
    pairs: c.pairs.map((p) => ({
      pair: p.pair,
      label: p.label,
      reduction_abs_pct: finite(p.reduction_abs_pct),
      reduction_rel_pct: finite(p.reduction_rel_pct),
      reduction_log2_pct: finite(p.reduction_log2_pct),
      reduction_abs_ci: pairOf(p.reduction_abs_ci),
      reduction_rel_ci: pairOf(p.reduction_rel_ci),
      reduction_log2_ci: pairOf(p.reduction_log2_ci),
    })),
    aggregate: {
      abs: {
        reduction_pct: finite(c.aggregate.abs.reduction_pct),
        paper_style_reduction_pct: finite(c.aggregate.abs.paper_style_reduction_pct),
      },
      rel: {
        reduction_pct: finite(c.aggregate.rel.reduction_pct),
        paper_style_reduction_pct: finite(c.aggregate.rel.paper_style_reduction_pct),
      },
    },
  };
}

/** The same in the calling thread (the reproduction's report, already off the server's event loop). */
export function scalarComparison(
  store: Store,
  run: string,
  baseline: string,
  resamples: number = COMPARE_DEFAULTS.resamples,
  seed: number = COMPARE_DEFAULTS.seed,
): ScalarComparison {
  return apiComparison(
    compareRuns(store, run, baseline, resamples, seed, { record: false }),
    resamples,
    seed,
  );
}

const CACHE_SIZE = 200;

export function compareHandlers(deps: { store: Store; compareThread: CompareThread }): {
  [M in Method]: (p: Params<M>) => Result<M> | Promise<Result<M>>;
} {
  const cache = new Map<string, ScalarComparison>();
  return {
    'compare.scalar': async (p) => {
      const resamples = p.resamples ?? COMPARE_DEFAULTS.resamples;
      const seed = p.seed ?? COMPARE_DEFAULTS.seed;
      const run = deps.store.requireRun(p.run);
      const base = deps.store.requireRun(p.baseline);
      // Keyed by the runs' finish times too: a re-run (resume) of either invalidates the answer.
      const key = [p.run, run.finishedAt, p.baseline, base.finishedAt, resamples, seed].join('|');
      const hit = cache.get(key);
      if (hit) return hit;
      const result = await deps.compareThread.compare({
        dataDir: deps.store.dataDir,
        run,
        base,
        resamples,
        seed,
      });
      if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
      cache.set(key, result);
      return result;
    },
    'compare.metrics': (p) =>
      p.ids.map((id) => {
        deps.store.requireRun(id);
        const metrics = deps.store.listMetricKeys(id).map((k) => {
          const points = deps.store.getMetricSeries(id, k.key, k.scope);
          return { scope: k.scope, key: k.key, ...summarizeSeries(points, k.key, p.step) };
        });
        return { run: id, metrics };
      }),
  };
}
