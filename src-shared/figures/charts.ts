/**
 * The comparer's other figures (Observable Plot; `document` is the browser's or linkedom's): the staircase reuse
 * heatmap, the Pareto scatter and the seed-group dot plot. Same builders in the app and in `scalar report`.
 */
import * as Plot from '@observablehq/plot';
import { withoutStyleElement } from './dom.ts';
import { formatNumber, formatTick, logTicks, seriesColor, THEME } from './theme.ts';

const style = {
  fontSize: `${THEME.fontSize}px`,
  fontFamily: THEME.font,
  color: THEME.text,
  background: 'transparent',
};

export interface ReuseCell {
  /** The SAE's position p (row): its hook. */
  position: string;
  /** Chunk index c (column). */
  chunk: number;
  /** Mean number of active latents of chunk c at position p (null: chunk not in that position's dictionary). */
  value: number | null;
}

/**
 * Staircase reuse matrix: mean active latents per chunk (x) and position (y), the value written in each cell.
 * `maxValue` fixes the colour scale so heatmaps shown side by side are comparable.
 */
export function reuseHeatmap(
  cells: ReuseCell[],
  o: { width: number; maxValue?: number; title?: string },
  document?: Document,
): SVGSVGElement {
  const shown = cells.filter((c) => c.value !== null);
  const positions = [...new Set(cells.map((c) => c.position))];
  const chunks = [...new Set(cells.map((c) => c.chunk))].sort((a, b) => a - b);
  const max = o.maxValue ?? Math.max(1e-9, ...shown.map((c) => c.value as number));
  const rowHeight = 30;
  const figure = Plot.plot({
    document,
    width: o.width,
    height: THEME.margin.top + THEME.margin.bottom + rowHeight * Math.max(1, positions.length),
    marginTop: THEME.margin.top,
    marginBottom: THEME.margin.bottom,
    marginLeft: Math.min(150, 8 + 6.2 * Math.max(4, ...positions.map((p) => p.length))),
    marginRight: THEME.margin.right,
    style,
    x: {
      type: 'band',
      domain: chunks,
      label: 'chunk',
      labelAnchor: 'right',
      tickFormat: (c: number) => `c${c}`,
    },
    y: { type: 'band', domain: positions, label: null },
    color: { type: 'linear', domain: [0, max], scheme: 'blues' },
    marks: [
      Plot.cell(shown, { x: 'chunk', y: 'position', fill: 'value', inset: 0.5 }),
      Plot.text(shown, {
        x: 'chunk',
        y: 'position',
        text: (d: ReuseCell) => formatNumber(d.value, 3),
        fill: (d: ReuseCell) => ((d.value as number) > 0.55 * max ? 'white' : THEME.text),
      }),
      Plot.tip(
        shown,
        Plot.pointer({
          x: 'chunk',
          y: 'position',
          title: (d: ReuseCell) =>
            `${d.position}\nchunk ${d.chunk}: ${formatNumber(d.value)} active latents (mean per token)`,
        }),
      ),
    ],
  }) as SVGSVGElement;
  return withoutStyleElement(figure);
}

export interface ScatterPoint {
  label: string;
  x: number;
  y: number;
  color?: string;
  /** Extra line(s) for the hover tip. */
  detail?: string;
}

/** Dots of a Pareto plot get their run's name beside them up to this many runs. */
export const PARETO_LABELS_UP_TO = 4;

/** Pareto plot: one dot per run (its label beside it), hover for the run; x on a log axis when asked. */
export function paretoPlot(
  points: ScatterPoint[],
  o: {
    width: number;
    height?: number;
    xLabel: string;
    yLabel: string;
    logX?: boolean;
    interactive?: boolean;
  },
  document?: Document,
): SVGSVGElement {
  const rows = points
    .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!o.logX || p.x > 0))
    .map((p, i) => ({ ...p, color: p.color ?? seriesColor(i) }));
  const xs = rows.map((r) => r.x);
  const ticks = o.logX && xs.length ? logTicks(Math.min(...xs), Math.max(...xs)) : [];
  // Labels beside the dots while they can stay apart; with more runs the colours (legend, run list) say which.
  const labelled = rows.length <= PARETO_LABELS_UP_TO;
  const marks: Plot.Markish[] = [Plot.dot(rows, { x: 'x', y: 'y', fill: 'color', r: 5, stroke: 'white' })];
  if (labelled)
    marks.push(
      Plot.text(rows, {
        x: 'x',
        y: 'y',
        text: (d) => (d.label.length > 18 ? `${d.label.slice(0, 17)}…` : d.label),
        dx: 8,
        textAnchor: 'start',
        fill: THEME.muted,
      }),
    );
  if (o.interactive !== false)
    marks.push(
      Plot.tip(
        rows,
        Plot.pointer({
          x: 'x',
          y: 'y',
          title: (d: ScatterPoint) =>
            [d.label, `${o.xLabel}: ${formatNumber(d.x)}`, `${o.yLabel}: ${formatNumber(d.y)}`, d.detail]
              .filter(Boolean)
              .join('\n'),
        }),
      ),
    );
  const figure = Plot.plot({
    document,
    width: o.width,
    height: o.height ?? 300,
    marginTop: THEME.margin.top,
    marginRight: labelled ? 110 : THEME.margin.right + 8,
    marginBottom: THEME.margin.bottom,
    marginLeft: THEME.margin.left,
    style,
    x: {
      type: o.logX ? 'log' : 'linear',
      label: o.xLabel,
      labelAnchor: 'right',
      grid: true,
      nice: !o.logX,
      ticks: ticks.length >= 2 ? ticks : Math.max(2, Math.floor(o.width / 90)),
      tickFormat: formatTick,
    },
    y: { label: o.yLabel, grid: true, nice: true, tickFormat: formatTick },
    marks,
  }) as SVGSVGElement;
  return withoutStyleElement(figure);
}

export interface SeedGroupStat {
  label: string;
  mean: number;
  sd: number;
  color?: string;
  /** The per-seed values. */
  values: { seed: number | null; value: number; run: string }[];
}

/** Seed groups: per-seed values as dots, mean as a tick and mean ± sd as a bar, one row per group. */
export function seedPlot(
  groups: SeedGroupStat[],
  o: { width: number; xLabel: string; interactive?: boolean },
  document?: Document,
): SVGSVGElement {
  const rows = groups.map((g, i) => ({ ...g, color: g.color ?? seriesColor(i) }));
  const dots = rows.flatMap((g) => g.values.map((v) => ({ ...v, label: g.label, color: g.color })));
  const labels = rows.map((g) => g.label);
  const marks: Plot.Markish[] = [
    Plot.ruleY(rows, {
      y: 'label',
      x1: (g) => g.mean - g.sd,
      x2: (g) => g.mean + g.sd,
      stroke: 'color',
      strokeWidth: 3,
      strokeOpacity: 0.45,
    }),
    Plot.tickX(rows, { y: 'label', x: 'mean', stroke: 'color', strokeWidth: 2 }),
    Plot.dot(dots, { y: 'label', x: 'value', fill: 'color', r: 3.5, stroke: 'white' }),
  ];
  if (o.interactive !== false)
    marks.push(
      Plot.tip(
        dots,
        Plot.pointer({
          y: 'label',
          x: 'value',
          title: (d: { label: string; seed: number | null; value: number; run: string }) =>
            `${d.label}\nseed ${d.seed ?? '—'} (${d.run}): ${formatNumber(d.value)}`,
        }),
      ),
    );
  const figure = Plot.plot({
    document,
    width: o.width,
    height: THEME.margin.top + THEME.margin.bottom + 28 * Math.max(1, rows.length),
    marginTop: THEME.margin.top,
    marginBottom: THEME.margin.bottom,
    marginRight: THEME.margin.right + 8,
    marginLeft: Math.min(220, 10 + 6.2 * Math.max(4, ...labels.map((l) => l.length))),
    style,
    x: { label: o.xLabel, labelAnchor: 'right', grid: true, nice: true, tickFormat: formatTick },
    y: { type: 'band', domain: labels, label: null },
    marks,
  }) as SVGSVGElement;
  return withoutStyleElement(figure);
}
