/**
 * What the comparer derives from the Api's answers, shared by the compare page and `scalar report`: run labels
 * and colours, the baseline and which run is compared with which, the chart series of SCALAR and training
 * curves, the staircase reuse matrix, Pareto points and seed-group statistics.
 */
import type { RunDetail, ScalarResult } from '../api.ts';
import type { ChartSeries } from '../figures/line.ts';
import type { ReuseCell, ScatterPoint, SeedGroupStat } from '../figures/charts.ts';
import { PALETTE, seriesColor } from '../figures/theme.ts';
import { COMPARE_DEFAULTS, type ScalarComparison } from './api.ts';
import { jobConfigOf } from './configDiff.ts';
import { meanSd, seedGroups, type MeanSd, type SeedGroup } from './seeds.ts';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export interface CompareRun {
  detail: RunDetail;
  /** A SCALAR run's SAE run (its architecture, width, L0, ΔCE, chunk usage), when it could be loaded. */
  source: RunDetail | null;
  label: string;
  color: string;
  /** Past the palette's eight colours, lines are dashed so runs sharing a colour stay apart. */
  dashed: boolean;
}

/** The SAE run a SCALAR run measured (its config's `sae`), else null. */
export function sourceIdOf(run: Pick<RunDetail, 'kind' | 'config'>): string | null {
  if (run.kind !== 'scalar') return null;
  const sae = obj(jobConfigOf(run.config)).sae;
  return typeof sae === 'string' ? sae : null;
}

/**
 * The config a run is compared by: its job config, and for a SCALAR run also its SAE run's config under `sae.`
 * (the SAE's architecture and width are what differ between SCALAR runs).
 */
export function comparedConfig(r: CompareRun): Record<string, unknown> {
  const own = obj(jobConfigOf(r.detail.config));
  if (r.detail.kind !== 'scalar' || !r.source) return own;
  return { ...own, sae: { id: own.sae, ...obj(jobConfigOf(r.source.config)) } };
}

/** Labels (names, made unique with the id) and colours by position, the same in every chart. */
export function describeRuns(details: RunDetail[], sources: (RunDetail | null)[]): CompareRun[] {
  const counts = new Map<string, number>();
  for (const d of details) counts.set(d.name || d.id, (counts.get(d.name || d.id) ?? 0) + 1);
  return details.map((d, i) => {
    const name = d.name || d.id;
    return {
      detail: d,
      source: sources[i] ?? null,
      label: (counts.get(name) ?? 0) > 1 ? `${name} (${d.id})` : name,
      color: seriesColor(i),
      dashed: i >= PALETTE.length,
    };
  });
}

export const archOf = (r: CompareRun): string | null =>
  r.detail.arch ?? r.source?.arch ?? (obj(jobConfigOf(r.source?.config)).arch as string | undefined) ?? null;
export const setupOf = (r: CompareRun): string | null =>
  r.detail.setup ??
  r.source?.setup ??
  (obj(jobConfigOf(r.source?.config)).setup as string | undefined) ??
  null;

export const isScalar = (r: CompareRun) => r.detail.kind === 'scalar' && r.detail.status === 'completed';

/** The baseline of the reduction table: the asked one if it is a SCALAR run here, else the first TopK one. */
export function pickBaseline(runs: CompareRun[], asked?: string | null): string | null {
  const scalar = runs.filter(isScalar);
  if (asked && scalar.some((r) => r.detail.id === asked)) return asked;
  return (scalar.find((r) => archOf(r) === 'topk') ?? scalar[0])?.detail.id ?? null;
}

export function groupsOf(runs: CompareRun[]): SeedGroup[] {
  return seedGroups(
    runs.map((r) => ({
      id: r.detail.id,
      kind: r.detail.kind,
      seed: r.detail.seed,
      config: r.detail.config,
      sourceConfig: r.source?.config,
      arch: archOf(r),
      setup: setupOf(r),
    })),
  );
}

/**
 * Which SCALAR run is compared with which baseline: every other completed SCALAR run against the baseline when it
 * is of the baseline's setup, else against the first TopK run of its own setup (pairs only exist within a setup);
 * within that baseline's seed group, against the run of the same seed when there is one (as `scalar compare --run
 * a,b --baseline x,y` pairs them).
 */
export function comparisonPlan(
  runs: CompareRun[],
  baseline: string | null,
): { run: string; baseline: string }[] {
  const base = runs.find((r) => r.detail.id === baseline);
  if (!base) return [];
  const scalar = runs.filter(isScalar);
  const groups = groupsOf(runs);
  const perSetup = new Map<string | null, { members: CompareRun[]; fallback: string }>();
  const baseOf = (setup: string | null) => {
    if (!perSetup.has(setup)) {
      const b =
        setupOf(base) === setup ? base : scalar.find((r) => setupOf(r) === setup && archOf(r) === 'topk');
      const group = b && groups.find((g) => g.runIds.includes(b.detail.id));
      const members = group ? scalar.filter((r) => group.runIds.includes(r.detail.id)) : [];
      perSetup.set(setup, { members, fallback: b?.detail.id ?? '' });
    }
    return perSetup.get(setup)!;
  };
  const out: { run: string; baseline: string }[] = [];
  for (const r of scalar) {
    const b = baseOf(setupOf(r));
    if (!b.fallback || b.members.includes(r)) continue;
    const sameSeed = b.members.find((m) => m.detail.seed === r.detail.seed);
    out.push({ run: r.detail.id, baseline: sameSeed?.detail.id ?? b.fallback });
  }
  return out;
}

/**
 * Bootstrap resamples of a comparison when none is asked for: what the two SCALAR runs were measured with (their
 * config's `bootstrap`, the larger; the pipeline report compares with the same), else `scalar compare`'s default.
 */
export function defaultResamples(runs: CompareRun[], run: string, baseline: string): number {
  const own = (id: string) => {
    const r = runs.find((x) => x.detail.id === id);
    return num(obj(jobConfigOf(r?.detail.config)).bootstrap);
  };
  const values = [own(run), own(baseline)].filter((v): v is number => v !== null && v > 0);
  return values.length ? Math.max(...values) : COMPARE_DEFAULTS.resamples;
}

/** Pair labels over all SCALAR results, in first-seen order. */
export function pairLabels(results: (ScalarResult | null | undefined)[]): string[] {
  const out: string[] = [];
  for (const r of results) for (const c of r?.curves ?? []) if (!out.includes(c.pair)) out.push(c.pair);
  return out;
}

/** One series per run for a pair: mean KL against N with its CI. */
export function scalarCurveSeries(
  runs: CompareRun[],
  results: Record<string, ScalarResult | null | undefined>,
  pair: string,
): ChartSeries[] {
  return runs
    .filter((r) => results[r.detail.id])
    .map((r) => {
      const curve = results[r.detail.id]!.curves.find((c) => c.pair === pair);
      return {
        label: r.label,
        color: r.color,
        dashed: r.dashed,
        points: (curve?.points ?? [])
          .filter((p) => p.mean !== null)
          .map((p) => ({ x: p.n, y: p.mean as number, lo: p.lo, hi: p.hi })),
      };
    })
    .filter((s) => s.points.length > 0);
}

/** The staircase reuse matrix of an SAE run: its positions (hooks) × chunks, from the stored l0_per_chunk. */
export function reuseMatrix(sae: RunDetail | null): ReuseCell[] {
  const saes = obj(sae?.summary).saes;
  if (!Array.isArray(saes)) return [];
  const cells: ReuseCell[] = [];
  const width = Math.max(
    0,
    ...saes.map((s) => (Array.isArray(obj(s).l0_per_chunk) ? (obj(s).l0_per_chunk as unknown[]).length : 0)),
  );
  for (const s of saes.map(obj)) {
    if (!Array.isArray(s.l0_per_chunk)) continue;
    const hook = typeof s.hook === 'string' ? s.hook : '?';
    for (let c = 0; c < width; c++) cells.push({ position: hook, chunk: c, value: num(s.l0_per_chunk[c]) });
  }
  return cells;
}

/** The SAE run behind a run (itself for SAE runs). */
export const saeOf = (r: CompareRun): RunDetail | null => (r.detail.kind === 'sae' ? r.detail : r.source);

export type ParetoX = 'ce' | 'l0' | 'width';
export type ParetoY = 'auc_abs' | 'auc_rel';
export const PARETO_X_LABELS: Record<ParetoX, string> = {
  ce: 'compound ΔCE (nats)',
  l0: 'mean L0',
  width: 'dictionary width (latents)',
};
export const PARETO_Y_LABELS: Record<ParetoY, string> = {
  auc_abs: 'mean SCALAR AUC abs',
  auc_rel: 'mean SCALAR AUC rel',
};

/** One point per SCALAR run: its mean AUC over pairs against its SAE's ΔCE, mean L0 or total width. */
export function paretoPoints(runs: CompareRun[], x: ParetoX, y: ParetoY): ScatterPoint[] {
  const out: ScatterPoint[] = [];
  for (const r of runs.filter(isScalar)) {
    const sae = saeOf(r);
    const yv = num(r.detail.headline[y]);
    const s = obj(sae?.summary);
    const saes = Array.isArray(s.saes) ? s.saes.map(obj) : [];
    const mean = (k: string) => meanSd(saes.map((q) => num(q[k])))?.mean ?? null;
    const xv =
      x === 'ce'
        ? num(s.compoundCeLossIncrease)
        : x === 'l0'
          ? mean('l0')
          : saes.length
            ? saes.reduce((a, q) => a + (num(q.d_sae) ?? 0), 0)
            : null;
    if (yv === null || xv === null) continue;
    const what = [archOf(r), setupOf(r), r.detail.seed === null ? null : `seed ${r.detail.seed}`];
    out.push({ label: r.label, x: xv, y: yv, color: r.color, detail: what.filter(Boolean).join(' · ') });
  }
  return out;
}

/** Headline metrics a seed group is summarised by, per kind. */
export const SEED_METRICS: Record<string, { key: keyof RunDetail['headline']; label: string }[]> = {
  scalar: [
    { key: 'auc_abs', label: 'mean AUC abs' },
    { key: 'auc_rel', label: 'mean AUC rel' },
  ],
  sae: [
    { key: 'explained_variance', label: 'mean EV' },
    { key: 'l0', label: 'mean L0' },
    { key: 'ce_loss_increase', label: 'compound ΔCE' },
  ],
  lm: [{ key: 'val_loss', label: 'val loss' }],
};

/** A group's headline metric: mean ± sd over its runs and each seed's value. */
export function groupStat(
  group: SeedGroup,
  runs: CompareRun[],
  key: keyof RunDetail['headline'],
): (SeedGroupStat & MeanSd) | null {
  const members = group.runIds.map((id) => runs.find((r) => r.detail.id === id)!);
  const values = members
    .map((r) => ({ seed: r.detail.seed, value: num(r.detail.headline[key]) as number, run: r.label }))
    .filter((v) => v.value !== null);
  const ms = meanSd(values.map((v) => v.value));
  if (!ms) return null;
  // Colour by the group's position where it is drawn (seedPlot), not by its first run's.
  return { label: group.label, mean: ms.mean, sd: ms.sd, n: ms.n, values };
}

/** Mean ± sd across seeds of a group's reductions vs the baseline (what `scalar compare` prints for seeds). */
export function groupReductions(group: SeedGroup, comparisons: ScalarComparison[]) {
  const mine = comparisons.filter((c) => group.runIds.includes(c.run));
  if (mine.length === 0) return null;
  const labels = mine[0].pairs.map((p) => p.label);
  return {
    n: mine.length,
    pairs: labels.map((label) => ({
      label,
      abs: meanSd(mine.map((c) => c.pairs.find((p) => p.label === label)?.reduction_abs_pct)),
      rel: meanSd(mine.map((c) => c.pairs.find((p) => p.label === label)?.reduction_rel_pct)),
    })),
    abs: meanSd(mine.map((c) => c.aggregate.abs.reduction_pct)),
    rel: meanSd(mine.map((c) => c.aggregate.rel.reduction_pct)),
    paperAbs: meanSd(mine.map((c) => c.aggregate.abs.paper_style_reduction_pct)),
  };
}
