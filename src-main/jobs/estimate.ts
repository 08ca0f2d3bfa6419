/**
 * Rough durations for jobs about to be queued, from this machine's own finished runs: the median wall time of
 * completed runs of the same kind and shape, scaled by the number of steps where that is what differs. No
 * measurement, no guess: the figure is null and the basis says so.
 */
import type { Estimate } from '../../src-shared/api.ts';
import { RUN_KIND_OF_JOB, type JobSpec } from '../../src-shared/jobs.ts';
import type { PipelineJob } from '../../src-shared/pipeline.ts';
import type { RunRecord, Store } from '../store/index.ts';

type AnySpec = JobSpec | PipelineJob;

interface Shape {
  kind: string;
  /** Runs whose config matches this are comparable. */
  matches: (config: Record<string, unknown>) => boolean;
  /** Steps of the spec and of a stored config, to scale by (null: no scaling). */
  steps: (config: Record<string, unknown>) => number | null;
  describe: string;
}

const get = (o: unknown, ...keys: string[]): unknown =>
  keys.reduce<unknown>(
    (v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined),
    o,
  );

function shapeOf(spec: AnySpec): Shape {
  const c = spec.config as Record<string, unknown>;
  switch (spec.kind) {
    case 'train-lm':
      return {
        kind: 'lm',
        describe: `${String(c.preset)} LM`,
        matches: (o) => get(o, 'config', 'preset') === c.preset,
        steps: (o) => (get(o, 'config', 'schedule', 'steps') as number) ?? null,
      };
    case 'train-sae':
      return {
        kind: 'sae',
        describe: `${String(c.arch)} ${String(c.setup)} SAE`,
        matches: (o) => get(o, 'config', 'arch') === c.arch && get(o, 'config', 'setup') === c.setup,
        steps: (o) => (get(o, 'config', 'schedule', 'steps') as number) ?? null,
      };
    case 'import-sae':
      return {
        kind: 'sae',
        describe: 'SAELens import',
        matches: (o) => get(o, 'kind') === 'import-sae',
        steps: () => null,
      };
    case 'scalar':
      return {
        kind: 'scalar',
        describe: `${String(c.preset ?? 'custom')} SCALAR`,
        matches: (o) => get(o, 'config', 'preset') === c.preset && get(o, 'config', 'grid') === c.grid,
        steps: () => null,
      };
    case 'pipeline':
      return {
        kind: 'pipeline',
        describe: `${String(c.preset)} pipeline`,
        // Stored pipeline runs keep the PipelineConfig itself; specs wrap it in {kind, config}.
        matches: (o) => (get(o, 'preset') ?? get(o, 'config', 'preset')) === c.preset,
        // A pipeline's length is proportional to its seeds.
        steps: (o) => ((get(o, 'seeds') ?? get(o, 'config', 'seeds')) as number) ?? 1,
      };
    default:
      return {
        kind: RUN_KIND_OF_JOB[spec.kind],
        describe: spec.kind,
        matches: (o) => get(o, 'kind') === spec.kind,
        steps: () => null,
      };
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function estimateJobs(store: Store, specs: AnySpec[]): Estimate {
  const finished = new Map<string, RunRecord[]>();
  const runsOf = (kind: string) => {
    if (!finished.has(kind))
      finished.set(
        kind,
        store.listRuns({ kind, status: 'completed', limit: 500 }).filter((r) => (r.wallSeconds ?? 0) > 0),
      );
    return finished.get(kind)!;
  };
  const items = specs.map((spec) => {
    const shape = shapeOf(spec);
    const similar = runsOf(shape.kind).filter((r) => shape.matches(r.config as Record<string, unknown>));
    if (similar.length === 0)
      return { seconds: null, basis: `no finished ${shape.describe} run on this machine yet` };
    const target = shape.steps(spec as unknown as Record<string, unknown>);
    // Seconds per step (or per seed) where the length is known, else per run.
    const perUnit = similar.map((r) => {
      const steps = shape.steps(r.config as Record<string, unknown>);
      return target && steps ? r.wallSeconds! / steps : r.wallSeconds!;
    });
    const seconds =
      median(perUnit) * (target && shape.steps(similar[0].config as Record<string, unknown>) ? target : 1);
    return {
      seconds,
      basis: `median of ${similar.length} finished ${shape.describe} run${similar.length > 1 ? 's' : ''} on this machine`,
    };
  });
  const known = items.map((i) => i.seconds);
  return {
    items,
    totalSeconds: known.every((s) => s !== null) ? known.reduce<number>((a, b) => a + (b ?? 0), 0) : null,
  };
}
