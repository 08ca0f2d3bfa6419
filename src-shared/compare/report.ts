/**
 * A comparison as a set of files — the compare page's "export all" and `scalar report` write the same set:
 * figures (built by the shared figure builders; SVG, and PNG at 2× by whoever renders them), the data behind each
 * (CSV, one row per point, and JSON), the tables (metric summary, config diff, reductions as CSV and LaTeX).
 * `collectComparison` asks the Api for everything a report needs (the page loads the same per chart).
 */
import type { ApiMethod, ApiParams, ApiResult, RunDetail, ScalarResult } from '../api.ts';
import { paretoPlot, reuseHeatmap, seedPlot } from '../figures/charts.ts';
import { lineFigure, type ChartSeries } from '../figures/line.ts';
import { legendStrip } from '../figures/legend.ts';
import { stackFigures } from '../figures/dom.ts';
import type { MetricSummary, ScalarComparison } from './api.ts';
import { COMPARE_DEFAULTS } from './api.ts';
import { configDiff } from './configDiff.ts';
import {
  comparedConfig,
  comparisonPlan,
  defaultResamples,
  describeRuns,
  groupsOf,
  groupStat,
  pairLabels,
  paretoPoints,
  pickBaseline,
  reuseMatrix,
  saeOf,
  scalarCurveSeries,
  SEED_METRICS,
  sourceIdOf,
  PARETO_X_LABELS,
  PARETO_Y_LABELS,
  type CompareRun,
  type ParetoX,
  type ParetoY,
} from './data.ts';
import { reductionCsv, reductionLatex, reductionRows, seriesCsv, toCsv } from './tables.ts';

export type ApiCall = <M extends ApiMethod>(method: M, params: ApiParams<M>) => Promise<ApiResult<M>>;

export interface TrainingCurve {
  scope: string;
  key: string;
  series: { run: string; points: { step: number; value: number }[] }[];
}

export interface ComparisonData {
  runs: CompareRun[];
  baseline: string | null;
  scalar: Record<string, ScalarResult>;
  comparisons: { run: string; baseline: string; result: ScalarComparison | null; error: string | null }[];
  metrics: { run: string; metrics: MetricSummary[] }[];
  training: TrainingCurve[];
}

/** (scope, key) of the training metrics to overlay: those of at least two runs when there are two to compare. */
export function trainingKeys(runs: CompareRun[]): { scope: string; key: string; runs: string[] }[] {
  const trained = runs.filter((r) => r.detail.kind !== 'scalar');
  const byKey = new Map<string, { scope: string; key: string; runs: string[] }>();
  for (const r of trained)
    for (const k of r.detail.metricKeys) {
      const id = `${k.scope}\u241f${k.key}`;
      if (!byKey.has(id)) byKey.set(id, { scope: k.scope, key: k.key, runs: [] });
      byKey.get(id)!.runs.push(r.detail.id);
    }
  const all = [...byKey.values()];
  const shared = all.filter((k) => k.runs.length > 1);
  return (trained.length > 1 && shared.length ? shared : all).sort(
    (a, b) =>
      (a.scope === '' ? 0 : 1) - (b.scope === '' ? 0 : 1) ||
      a.scope.localeCompare(b.scope) ||
      a.key.localeCompare(b.key),
  );
}

export async function collectComparison(
  call: ApiCall,
  ids: string[],
  opts: { baseline?: string | null; resamples?: number; seed?: number; maxTrainingCharts?: number } = {},
): Promise<ComparisonData> {
  const details = await Promise.all(ids.map((id) => call('runs.get', { id })));
  const sources = await Promise.all(
    details.map((d) => {
      const src = sourceIdOf(d);
      return src ? call('runs.get', { id: src }).catch(() => null) : Promise.resolve(null);
    }),
  );
  const runs = describeRuns(details, sources);
  const baseline = pickBaseline(runs, opts.baseline);
  const scalar: Record<string, ScalarResult> = {};
  for (const r of runs.filter((x) => x.detail.kind === 'scalar'))
    scalar[r.detail.id] = await call('runs.scalar', { id: r.detail.id });
  const comparisons: ComparisonData['comparisons'] = [];
  for (const p of comparisonPlan(runs, baseline)) {
    try {
      const result = await call('compare.scalar', {
        run: p.run,
        baseline: p.baseline,
        resamples: opts.resamples ?? defaultResamples(runs, p.run, p.baseline),
        seed: opts.seed ?? COMPARE_DEFAULTS.seed,
      });
      comparisons.push({ ...p, result, error: null });
    } catch (err) {
      comparisons.push({ ...p, result: null, error: err instanceof Error ? err.message : String(err) });
    }
  }
  const metrics = await call('compare.metrics', { ids });
  const training: TrainingCurve[] = [];
  for (const k of trainingKeys(runs).slice(0, opts.maxTrainingCharts ?? 60))
    training.push({
      scope: k.scope,
      key: k.key,
      series: await Promise.all(
        k.runs.map(async (run) => ({
          run,
          points: await call('runs.metrics', { id: run, key: k.key, scope: k.scope }),
        })),
      ),
    });
  return { runs, baseline, scalar, comparisons, metrics, training };
}

export interface FigureSpec {
  /** File stem, e.g. `scalar-tblock-0-log2`. */
  name: string;
  title: string;
  build: (document: Document, width: number) => SVGSVGElement;
  csv: string;
  json: unknown;
}

export interface TableFile {
  name: string;
  text: string;
}

const stem = (s: string) => s.replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '') || 'figure';

/** Every figure of a comparison, with the data behind it. */
export function comparisonFigures(data: ComparisonData): FigureSpec[] {
  const { runs } = data;
  const label = (id: string) => runs.find((r) => r.detail.id === id)?.label ?? id;
  const colour = (id: string) => runs.find((r) => r.detail.id === id)?.color;
  const out: FigureSpec[] = [];

  for (const t of data.training) {
    const series: ChartSeries[] = t.series.map((s) => ({
      label: label(s.run),
      color: colour(s.run),
      dashed: runs.find((r) => r.detail.id === s.run)?.dashed,
      points: s.points.map((p) => ({ x: p.step, y: p.value })),
    }));
    const title = `${t.key}${t.scope ? ` — ${t.scope}` : ''}`;
    out.push({
      name: stem(`training-${t.key}${t.scope ? `-${t.scope}` : ''}`),
      title,
      build: (doc, width) => lineFigure(series, { xLabel: 'step', yLabel: t.key }, width, doc, title),
      csv: seriesCsv(series, 'step', t.key),
      json: { scope: t.scope, key: t.key, series },
    });
  }

  const results = runs.map((r) => data.scalar[r.detail.id]);
  for (const pair of pairLabels(results)) {
    const series = scalarCurveSeries(runs, data.scalar, pair);
    const title = `SCALAR curve — ${pair}`;
    const json = { pair, series };
    const csv = seriesCsv(series, 'edges_kept_N', 'mean_kl');
    out.push(
      {
        name: stem(`scalar-${pair}-log2`),
        title: `${title} (log₂ N)`,
        build: (doc, width) =>
          lineFigure(
            series,
            { xLabel: 'edges kept N', yLabel: 'mean KL', logX: true, xBase: 2 },
            width,
            doc,
            title,
          ),
        csv,
        json,
      },
      {
        name: stem(`scalar-${pair}-linear`),
        title: `${title} (linear N)`,
        build: (doc, width) =>
          lineFigure(series, { xLabel: 'edges kept N', yLabel: 'mean KL' }, width, doc, title),
        csv,
        json,
      },
    );
  }

  const reuse = runs.map((r) => ({ r, cells: reuseMatrix(saeOf(r)) })).filter((x) => x.cells.length > 0);
  const maxValue = Math.max(0, ...reuse.flatMap((x) => x.cells.map((c) => c.value ?? 0)));
  for (const { r, cells } of reuse) {
    const title = `Staircase reuse — ${r.label}`;
    out.push({
      name: stem(`reuse-${r.detail.id}`),
      title,
      build: (doc, width) =>
        stackFigures(doc, [reuseHeatmap(cells, { width, maxValue }, doc)], `${title} (mean active latents)`),
      csv: toCsv(
        ['position', 'chunk', 'mean_active_latents'],
        cells.map((c) => [c.position, c.chunk, c.value]),
      ),
      json: { run: r.detail.id, cells },
    });
  }

  for (const y of ['auc_abs', 'auc_rel'] as ParetoY[])
    for (const x of ['ce', 'l0', 'width'] as ParetoX[]) {
      const points = paretoPoints(runs, x, y);
      if (points.length === 0) continue;
      const title = `${PARETO_Y_LABELS[y]} vs ${PARETO_X_LABELS[x]}`;
      out.push({
        name: stem(`pareto-${y}-${x}`),
        title,
        build: (doc, width) =>
          stackFigures(
            doc,
            [
              legendStrip(
                points.map((p) => ({ label: p.label, color: p.color!, shape: 'dot' })),
                width,
                doc,
              ),
              paretoPlot(
                points,
                {
                  width,
                  xLabel: PARETO_X_LABELS[x],
                  yLabel: PARETO_Y_LABELS[y],
                  logX: x === 'width',
                  interactive: false,
                },
                doc,
              ),
            ],
            title,
          ),
        csv: toCsv(
          [PARETO_X_LABELS[x], PARETO_Y_LABELS[y], 'run'].map(stem),
          points.map((p) => [p.x, p.y, p.label]),
        ),
        json: { x, y, points },
      });
    }

  const groups = groupsOf(runs);
  if (groups.some((g) => g.runIds.length > 1)) {
    const kinds = [...new Set(runs.map((r) => r.detail.kind))];
    for (const kind of kinds)
      for (const m of SEED_METRICS[kind] ?? []) {
        const stats = groups
          .filter((g) => runs.find((r) => r.detail.id === g.runIds[0])?.detail.kind === kind)
          .map((g) => groupStat(g, runs, m.key))
          .filter((s): s is NonNullable<typeof s> => s !== null);
        if (!stats.some((s) => s.n > 1)) continue;
        const title = `Seed groups — ${m.label} (mean ± sd, per-seed points)`;
        out.push({
          name: stem(`seeds-${kind}-${m.key}`),
          title,
          build: (doc, width) =>
            stackFigures(doc, [seedPlot(stats, { width, xLabel: m.label, interactive: false }, doc)], title),
          csv: toCsv(
            ['group', 'seed', 'run', m.key, 'group_mean', 'group_sd', 'n'],
            stats.flatMap((s) => s.values.map((v) => [s.label, v.seed, v.run, v.value, s.mean, s.sd, s.n])),
          ),
          json: { metric: m.key, groups: stats },
        });
      }
  }
  return out;
}

/** The tables of a comparison: metric summary, config diff, reductions (CSV and LaTeX). */
export function comparisonTables(data: ComparisonData): TableFile[] {
  const { runs } = data;
  const label = (id: string) => runs.find((r) => r.detail.id === id)?.label ?? id;
  const files: TableFile[] = [];
  const diff = configDiff(runs.map(comparedConfig));
  files.push({
    name: 'config-diff.csv',
    text: toCsv(
      ['key', 'differs', ...runs.map((r) => r.label)],
      diff.map((d) => [d.key, d.differs ? 'yes' : '', ...d.values]),
    ),
  });
  files.push({
    name: 'metrics.csv',
    text: toCsv(
      ['run', 'run_name', 'scope', 'key', 'final', 'final_step', 'best', 'best_step', 'min', 'max', 'points'],
      data.metrics.flatMap((m) =>
        m.metrics.map((s) => [
          m.run,
          label(m.run),
          s.scope,
          s.key,
          s.final,
          s.finalStep,
          s.best,
          s.bestStep,
          s.min,
          s.max,
          s.count,
        ]),
      ),
    ),
  });
  const rows = data.comparisons.flatMap((c) =>
    c.result ? reductionRows(c.result, label(c.run), label(c.baseline)) : [],
  );
  if (rows.length) {
    files.push({ name: 'reductions.csv', text: reductionCsv(rows) });
    files.push({ name: 'reductions.tex', text: reductionLatex(rows) });
  }
  return files;
}

/** The runs as the report's JSON lists them. */
export const runsJson = (data: ComparisonData): Partial<RunDetail>[] =>
  data.runs.map((r) => ({
    id: r.detail.id,
    name: r.detail.name,
    kind: r.detail.kind,
    seed: r.detail.seed,
    arch: r.detail.arch,
    setup: r.detail.setup,
    headline: r.detail.headline,
    config: r.detail.config,
  }));

export const figureFile = (name: string, ext: 'svg' | 'png') => `figures/${name}.${ext}`;

/** The text files of a report (everything but the figures' SVG and PNG): data, tables, comparison.json. */
export function reportTextFiles(
  data: ComparisonData,
  figures: FigureSpec[],
): { path: string; text: string }[] {
  const files: { path: string; text: string }[] = [];
  for (const f of figures) {
    files.push({ path: `data/${f.name}.csv`, text: f.csv });
    files.push({ path: `data/${f.name}.json`, text: `${JSON.stringify(f.json, null, 2)}\n` });
  }
  for (const t of comparisonTables(data)) files.push({ path: `tables/${t.name}`, text: t.text });
  files.push({
    path: 'comparison.json',
    text: `${JSON.stringify(
      {
        runs: runsJson(data),
        baseline: data.baseline,
        comparisons: data.comparisons,
        figures: figures.map((f) => ({ name: f.name, title: f.title })),
      },
      null,
      2,
    )}\n`,
  });
  return files;
}

/** Width of report figures (px; PNGs are twice that). */
export const REPORT_FIGURE_WIDTH = 720;
