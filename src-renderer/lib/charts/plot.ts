/**
 * Shared ground of every chart (run page, compare page, CLI report): the series shape, the theme, number
 * formatting, and the Observable Plot figure of a line chart. Nothing here knows about runs or metrics.
 */
import * as Plot from '@observablehq/plot';
import { seriesColor } from './palette.ts';

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
  logY?: boolean;
  height?: number;
  /** Draw lo/hi as bands where the points have them (default true). */
  bands?: boolean;
}

/** Concrete colours (not CSS variables) so exported SVG and PNG files look the same outside the app. */
export const THEME = {
  text: '#1c2330',
  muted: '#5f6b7a',
  grid: '#dde2e8',
  font: "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif",
  fontSize: 11,
  margin: { top: 22, right: 16, bottom: 34, left: 52 },
  bandOpacity: 0.16,
  strokeWidth: 1.6,
  /** Series with at most this many points also get a dot per point (a lone point is otherwise invisible). */
  dotsUpTo: 60,
  /** How far (px) from a point the pointer still shows it. */
  hoverRadius: 48,
  /** Series listed in a hover tip at most. */
  tipLines: 10,
} as const;

/** A value as a researcher reads it: 4 significant digits, thousands grouped, tiny and huge as exponents. */
export function formatNumber(v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e7 || a < 1e-3) return v.toExponential(Math.max(0, digits - 2)).replace('e+', 'e');
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  return String(Number(v.toPrecision(digits)));
}

/** Axis ticks: short (at most ~6 characters) so the left margin stays fixed. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e4) return `${Number((v / 1e3).toPrecision(3))}k`;
  if (a < 1e-3) return v.toExponential(0).replace('e+', 'e');
  return String(Number(v.toPrecision(3)));
}

/** Ticks of a log axis over [min, max]: the powers of ten, with 2× and 5× when there are too few of them. */
export function logTicks(min: number, max: number): number[] {
  if (!(min > 0) || !(max > 0)) return [];
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const mults = hi - lo < 3 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e++) for (const m of mults) ticks.push(m * 10 ** e);
  return ticks.filter((t) => t >= min * 0.999 && t <= max * 1.001);
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

/** The figure (an SVG element) of a line chart with optional CI bands, crosshair and hover tip. */
export function linePlot(
  series: (ChartSeries & { color: string })[],
  o: LineOptions,
  width: number,
): SVGSVGElement | HTMLElement {
  const perSeries = series.map((s) => ({ s, rows: rowsOf(s, o) }));
  const all = perSeries.flatMap((p) => p.rows);
  const marks: Plot.Markish[] = [];
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
  const xTicks = o.logX && all.length ? logTicks(...extent(all.map((r) => r.x))) : undefined;
  const yTicks =
    o.logY && all.length
      ? logTicks(...extent(all.flatMap((r) => [r.y, r.lo ?? r.y, r.hi ?? r.y])))
      : undefined;
  const xName = o.xLabel ?? 'x';
  const yName = o.yLabel ?? 'y';
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
  const figure = Plot.plot({
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
      label: o.xLabel ?? null,
      labelAnchor: 'right',
      grid: true,
      ticks: xTicks && xTicks.length >= 2 ? xTicks : Math.max(2, Math.floor(width / 90)),
      tickFormat: formatTick,
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
  });
  return withoutStyleElement(figure);
}

/**
 * Plot puts a <style> element in each figure; the app's Content-Security-Policy (style-src 'self') refuses it
 * and logs a violation. Its rules are set on the figure through the CSSOM instead (allowed, and kept when the
 * SVG is exported). Every chart built on Plot passes its figure through here before it enters the page.
 */
export function withoutStyleElement<T extends SVGSVGElement | HTMLElement>(figure: T): T {
  figure.querySelectorAll('style').forEach((el) => el.remove());
  const svgs = figure.tagName.toLowerCase() === 'svg' ? [figure] : [...figure.querySelectorAll('svg')];
  for (const svg of svgs) {
    svg.style.setProperty('--plot-background', 'white');
    svg.style.display = 'block';
    svg.style.maxWidth = '100%';
    svg.style.height = 'auto';
    // Plot's rule is on text and tspan; white-space inherits, and only text uses it.
    svg.style.whiteSpace = 'pre';
  }
  return figure;
}
