/**
 * The comparer's tables as files: CSV of any table, the long-format CSV of chart series (one row per point), and
 * the reduction table (per pair, one-unit aggregate, paper-style aggregate) as rows, CSV and a LaTeX table.
 */
import type { ScalarComparison } from './api.ts';
import { withinNoise } from './seeds.ts';

export type Cell = string | number | null | undefined;

export function csvCell(v: Cell): string {
  if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A table as CSV: a header line, then one line per row. */
export function toCsv(header: string[], rows: Cell[][]): string {
  return `${[header, ...rows].map((r) => r.map(csvCell).join(',')).join('\n')}\n`;
}

export interface CsvSeries {
  label: string;
  points: { x: number; y: number; lo?: number | null; hi?: number | null }[];
}

/** Long format, one row per point: series,x,y,lo,hi. */
export function seriesCsv(series: CsvSeries[], xLabel = 'x', yLabel = 'y'): string {
  return toCsv(
    ['series', xLabel, yLabel, 'lo', 'hi'],
    series.flatMap((s) => s.points.map((p) => [s.label, p.x, p.y, p.lo ?? null, p.hi ?? null])),
  );
}

/** Percentages as `scalar compare` prints them: two decimals. */
export const pct = (v: number | null | undefined): string =>
  typeof v === 'number' && Number.isFinite(v) ? v.toFixed(2) : '—';
export const pctCi = (ci: [number | null, number | null] | null | undefined): string =>
  ci && typeof ci[0] === 'number' && typeof ci[1] === 'number' ? `[${pct(ci[0])}, ${pct(ci[1])}]` : '';

export interface ReductionRow {
  run: string;
  runLabel: string;
  baseline: string;
  baselineLabel: string;
  /** A pair label (`tblock:0`), or 'aggregate (one unit)' / 'aggregate (paper-style)'. */
  pair: string;
  kind: 'pair' | 'aggregate' | 'paper-style';
  abs: number | null;
  absCi: [number | null, number | null] | null;
  rel: number | null;
  relCi: [number | null, number | null] | null;
  log2: number | null;
  log2Ci: [number | null, number | null] | null;
  /** Why the absolute reduction is within noise (CI holds 0), or null. */
  noise: string | null;
}

export const AGGREGATE_LABEL = 'aggregate (one unit)';
export const PAPER_STYLE_LABEL = 'aggregate (paper-style, mixed printed units)';

/** The reduction table of one comparison: a row per shared pair, then the two aggregates. */
export function reductionRows(c: ScalarComparison, runLabel: string, baselineLabel: string): ReductionRow[] {
  const base = { run: c.run, runLabel, baseline: c.baseline, baselineLabel };
  const rows: ReductionRow[] = c.pairs.map((p) => ({
    ...base,
    pair: p.label,
    kind: 'pair',
    abs: p.reduction_abs_pct,
    absCi: p.reduction_abs_ci,
    rel: p.reduction_rel_pct,
    relCi: p.reduction_rel_ci,
    log2: p.reduction_log2_pct,
    log2Ci: p.reduction_log2_ci,
    noise: withinNoise(p.reduction_abs_pct, { ci: p.reduction_abs_ci }),
  }));
  const agg = (kind: 'aggregate' | 'paper-style'): ReductionRow => ({
    ...base,
    pair: kind === 'aggregate' ? AGGREGATE_LABEL : PAPER_STYLE_LABEL,
    kind,
    abs: kind === 'aggregate' ? c.aggregate.abs.reduction_pct : c.aggregate.abs.paper_style_reduction_pct,
    absCi: null,
    rel: kind === 'aggregate' ? c.aggregate.rel.reduction_pct : c.aggregate.rel.paper_style_reduction_pct,
    relCi: null,
    log2: null,
    log2Ci: null,
    noise: null,
  });
  return [...rows, agg('aggregate'), agg('paper-style')];
}

export function reductionCsv(rows: ReductionRow[]): string {
  return toCsv(
    [
      'run',
      'run_name',
      'baseline',
      'baseline_name',
      'pair',
      'reduction_abs_pct',
      'abs_ci_lo',
      'abs_ci_hi',
      'reduction_rel_pct',
      'rel_ci_lo',
      'rel_ci_hi',
      'reduction_log2_pct',
      'log2_ci_lo',
      'log2_ci_hi',
      'within_noise',
    ],
    rows.map((r) => [
      r.run,
      r.runLabel,
      r.baseline,
      r.baselineLabel,
      r.pair,
      r.abs,
      r.absCi?.[0],
      r.absCi?.[1],
      r.rel,
      r.relCi?.[0],
      r.relCi?.[1],
      r.log2,
      r.log2Ci?.[0],
      r.log2Ci?.[1],
      r.noise ?? '',
    ]),
  );
}

/** LaTeX's special characters escaped for text mode. */
export function latexEscape(s: string): string {
  return s.replace(/[\\{}&%$#_~^]/g, (c) =>
    c === '\\'
      ? '\\textbackslash{}'
      : c === '~'
        ? '\\textasciitilde{}'
        : c === '^'
          ? '\\textasciicircum{}'
          : `\\${c}`,
  );
}

const texNum = (v: number | null, ci?: [number | null, number | null] | null) => {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '--';
  const c = pctCi(ci ?? null);
  return c ? `$${pct(v)}$ {\\scriptsize $${c}$}` : `$${pct(v)}$`;
};

/** The reduction table as a booktabs LaTeX table (values as `scalar compare` prints them, CIs in brackets). */
export function reductionLatex(rows: ReductionRow[], caption?: string): string {
  const lines = [
    '% SCALAR % reduction vs baseline; generated by SCALAR Workstation (needs \\usepackage{booktabs})',
    '\\begin{table}[t]',
    '\\centering',
    `\\caption{${latexEscape(caption ?? 'SCALAR % reduction vs baseline (lower scores are sparser); 95 % paired-bootstrap CIs in brackets.')}}`,
    '\\begin{tabular}{lllrrr}',
    '\\toprule',
    'Run & Baseline & Pair & Absolute (\\%) & Relative (\\%) & $\\log_2$ area (\\%) \\\\',
    '\\midrule',
  ];
  let last = '';
  for (const r of rows) {
    const group = `${r.run}|${r.baseline}`;
    if (last && group !== last) lines.push('\\midrule');
    last = group;
    lines.push(
      `${latexEscape(r.runLabel)} & ${latexEscape(r.baselineLabel)} & ${latexEscape(r.pair)} & ${texNum(r.abs, r.absCi)} & ${texNum(r.rel, r.relCi)} & ${texNum(r.log2, r.log2Ci)} \\\\`,
    );
  }
  lines.push('\\bottomrule', '\\end{tabular}', '\\end{table}');
  return `${lines.join('\n')}\n`;
}
