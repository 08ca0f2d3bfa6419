/**
 * The line chart every curve in the app and the CLI report is drawn with (Observable Plot): one line per series,
 * CI bands, linear / log₁₀ / log₂ axes, a crosshair and a hover tip. `document` is the browser's or linkedom's.
 */
import * as Plot from '@observablehq/plot';
import { stackFigures, withoutStyleElement } from './dom.ts';
import { legendStrip } from './legend.ts';
import { formatNumber, formatPow2, formatTick, log2Ticks, logTicks, seriesColor, THEME } from './theme.ts';

export interface ChartPoint {
  x: number;
  y: number;
  /** Lower and upper end of a confidence interval around y (drawn as a band). */
  lo?: number | null;
  hi?: number | null;
}

export interface ChartSeries {
  label: string;
  points: ChartPoint[];
  /** Fixed colour; by default the palette colour of the series' position. */
  color?: string;
  dashed?: boolean;
}

export interface LineOptions {
  xLabel?: string;
  yLabel?: string;
  logX?: boolean;
  /** Base of the log x axis: 10 (default) or 2 (powers of two as ticks, the SCALAR edge-budget axis). */
  xBase?: 2 | 10;
  logY?: boolean;
  height?: number;
  /** Draw lo/hi as bands where the points have them (default true). */
  bands?: boolean;
  /** Hover crosshair and tip (default true; off for files). */
  interactive?: boolean;
  /** Ticks only at the data's whole x values (pairs, positions: 0.5 of a pair means nothing). */
  integerX?: boolean;
  /** A rule at y = 0, so the sign of a signed quantity (a % reduction) reads at a glance. */
  zeroY?: boolean;
}

/** Each series with its colour resolved by its position in the full list (stable when some are hidden). */
export function colouredSeries(series: ChartSeries[]): (ChartSeries & { color: string })[] {
  return series.map((s, i) => ({ ...s, color: s.color ?? seriesColor(i) }));
}

export function hasPoints(series: ChartSeries[]): boolean {
  return series.some((s) => s.points.some((p) => Number.isFinite(p.x) && Number.isFinite(p.y)));
}

interface Row {
  label: string;
  color: string;
  x: number;
  y: number;
  lo: number | null;
  hi: number | null;
}

const finite = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);

/** The plottable rows of a series: finite, and positive on a log axis. */
function rowsOf(s: ChartSeries & { color: string }, o: LineOptions): Row[] {
  const rows: Row[] = [];
  for (const p of s.points) {
    if (!finite(p.x) || !finite(p.y)) continue;
    if ((o.logX && p.x <= 0) || (o.logY && p.y <= 0)) continue;
    const lo = finite(p.lo) && !(o.logY && p.lo <= 0) ? p.lo : null;
    const hi = finite(p.hi) ? p.hi : null;
    rows.push({ label: s.label, color: s.color, x: p.x, y: p.y, lo, hi });
  }
  return rows.sort((a, b) => a.x - b.x);
}

/** The x-axis ticks a chart will show (exported for tests: toggling log axes changes them). */
export function xTicksFor(xs: number[], o: LineOptions): number[] | undefined {
  if (o.integerX && !o.logX) return [...new Set(xs.filter((x) => Number.isInteger(x)))].sort((a, b) => a - b);
  if (!o.logX || xs.length === 0) return undefined;
  const min = Math.min(...xs);
  const max = Math.max(...xs);
  return o.xBase === 2 ? log2Ticks(min, max) : logTicks(min, max);
}

/** The figure (an SVG element) of a line chart with optional CI bands, crosshair and hover tip. */
export function linePlot(
  series: (ChartSeries & { color: string })[],
  o: LineOptions,
  width: number,
  document?: Document,
): SVGSVGElement {
  const perSeries = series.map((s) => ({ s, rows: rowsOf(s, o) }));
  const all = perSeries.flatMap((p) => p.rows);
  const marks: Plot.Markish[] = [];
  if (o.zeroY) marks.push(Plot.ruleY([0], { stroke: THEME.muted, strokeOpacity: 0.8 }));
  if (o.bands !== false)
    for (const { s, rows } of perSeries) {
      const band = rows.filter((r) => r.lo !== null && r.hi !== null);
      if (band.length > 1)
        marks.push(
          Plot.areaY(band, { x: 'x', y1: 'lo', y2: 'hi', fill: s.color, fillOpacity: THEME.bandOpacity }),
        );
    }
  for (const { s, rows } of perSeries) {
    marks.push(
      Plot.lineY(rows, {
        x: 'x',
        y: 'y',
        stroke: s.color,
        strokeWidth: THEME.strokeWidth,
        strokeDasharray: s.dashed ? '5,3' : undefined,
      }),
    );
    if (rows.length <= THEME.dotsUpTo) marks.push(Plot.dot(rows, { x: 'x', y: 'y', fill: s.color, r: 2 }));
  }
  const extent = (values: number[]) => [Math.min(...values), Math.max(...values)] as const;
  const xTicks = xTicksFor(
    all.map((r) => r.x),
    o,
  );
  const yTicks =
    o.logY && all.length
      ? logTicks(...extent(all.flatMap((r) => [r.y, r.lo ?? r.y, r.hi ?? r.y])))
      : undefined;
  const xName = o.xLabel ?? 'x';
  const yName = o.yLabel ?? 'y';
  if (o.interactive !== false) {
    // Hover: the nearest point in x (ties by y), a crosshair, and a tip listing every series at that x.
    const near = { x: 'x', maxRadius: THEME.hoverRadius };
    const atX = new Map<number, Row[]>();
    for (const r of all) atX.set(r.x, [...(atX.get(r.x) ?? []), r]);
    const valueText = (r: Row) =>
      `${formatNumber(r.y)}${r.lo !== null && r.hi !== null ? `  [${formatNumber(r.lo)}, ${formatNumber(r.hi)}]` : ''}`;
    const tipText = (r: Row) => {
      const here = atX.get(r.x) ?? [r];
      const lines =
        series.length > 1
          ? here.slice(0, THEME.tipLines).map((q) => `${q === r ? '▸ ' : '  '}${q.label}: ${valueText(q)}`)
          : [`${yName}: ${valueText(r)}`];
      if (here.length > THEME.tipLines) lines.push(`  … ${here.length - THEME.tipLines} more`);
      return [`${xName}: ${formatNumber(r.x)}`, ...lines].join('\n');
    };
    marks.push(
      Plot.ruleX(all, Plot.pointerX({ ...near, py: 'y', stroke: THEME.muted, strokeOpacity: 0.5 })),
      Plot.dot(all, Plot.pointerX({ ...near, y: 'y', fill: 'color', stroke: 'white', r: 4 })),
      Plot.tip(all, Plot.pointerX({ ...near, y: 'y', fontSize: THEME.fontSize, title: tipText })),
    );
  }
  const figure = Plot.plot({
    document,
    width,
    height: o.height ?? 220,
    marginTop: THEME.margin.top,
    marginRight: THEME.margin.right,
    marginBottom: THEME.margin.bottom,
    marginLeft: THEME.margin.left,
    style: {
      fontSize: `${THEME.fontSize}px`,
      fontFamily: THEME.font,
      color: THEME.text,
      background: 'transparent',
    },
    x: {
      type: o.logX ? 'log' : 'linear',
      base: o.logX && o.xBase === 2 ? 2 : undefined,
      label: o.xLabel ?? null,
      labelAnchor: 'right',
      grid: true,
      ticks: xTicks && xTicks.length >= 2 ? xTicks : Math.max(2, Math.floor(width / 90)),
      tickFormat: o.logX && o.xBase === 2 ? formatPow2 : formatTick,
    },
    y: {
      type: o.logY ? 'log' : 'linear',
      label: o.yLabel ?? null,
      grid: true,
      nice: !o.logY,
      ticks: yTicks && yTicks.length >= 2 ? yTicks : 5,
      tickFormat: formatTick,
    },
    marks,
  }) as SVGSVGElement;
  return withoutStyleElement(figure);
}

/**
 * The figure as a file shows it: title, a legend strip (when there is more than one series) and the plot,
 * without hover marks. The app's SVG/PNG export and the CLI report both write this.
 */
export function lineFigure(
  series: ChartSeries[],
  o: LineOptions,
  width: number,
  document: Document,
  title?: string,
): SVGSVGElement {
  const coloured = colouredSeries(series);
  const plot = linePlot(coloured, { ...o, interactive: false }, width, document);
  const parts = [plot];
  if (coloured.length > 1) parts.unshift(legendStrip(coloured, width, document));
  return stackFigures(document, parts, title);
}
