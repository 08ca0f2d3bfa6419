/**
 * The look of every figure, in the app and in the CLI report: concrete colours (not CSS variables, so an
 * exported SVG or PNG looks the same outside the app), the Okabe–Ito palette, number formats and log ticks.
 */

export const THEME = {
  text: '#1c2330',
  muted: '#5f6b7a',
  grid: '#dde2e8',
  background: '#ffffff',
  font: "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif",
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

/**
 * The one colour palette of every chart: Okabe–Ito (Okabe & Ito 2008), distinguishable under the common forms of
 * colour-vision deficiency. Ordered for lines on a white background (the pale yellow comes last); black is
 * replaced by a neutral grey so it does not read as an axis.
 */
export const PALETTE = [
  '#0072B2', // blue
  '#D55E00', // vermillion
  '#009E73', // bluish green
  '#CC79A7', // reddish purple
  '#E69F00', // orange
  '#56B4E9', // sky blue
  '#5F6B7A', // grey (in place of black)
  '#C9B400', // yellow, darkened to be legible on white
] as const;

/** The colour of the i-th series; wraps around after the palette's eight colours. */
export function seriesColor(index: number): string {
  return PALETTE[((index % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

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

/** Ticks of a log₂ axis over [min, max]: powers of two, every other or third one when there are many. */
export function log2Ticks(min: number, max: number): number[] {
  if (!(min > 0) || !(max > 0)) return [];
  const lo = Math.ceil(Math.log2(min) - 1e-9);
  const hi = Math.floor(Math.log2(max) + 1e-9);
  const span = hi - lo;
  const step = span > 18 ? 3 : span > 9 ? 2 : 1;
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e += step) ticks.push(2 ** e);
  return ticks;
}

/** 2ⁿ written with a superscript exponent (the paper's edge-budget axis). */
export function formatPow2(v: number): string {
  const e = Math.log2(v);
  if (!Number.isInteger(Math.round(e * 1e6) / 1e6)) return formatTick(v);
  const sup = '⁰¹²³⁴⁵⁶⁷⁸⁹';
  const digits = String(Math.round(e))
    .split('')
    .map((d) => (d === '-' ? '⁻' : sup[Number(d)]))
    .join('');
  return `2${digits}`;
}
