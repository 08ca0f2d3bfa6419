/**
 * SCALAR curves as a standalone SVG (no dependencies, so both the report writer and the renderer use it):
 * mean KL against the edge budget N on a log₂ axis, one line per series with its 95 % CI as a band.
 */

export interface CurveSeries {
  label: string;
  points: { n: number; mean: number; lo: number; hi: number }[];
  color?: string;
}

export interface CurveChart {
  title: string;
  series: CurveSeries[];
  yLabel?: string;
  width?: number;
  height?: number;
}

const PALETTE = ['#3b6fb6', '#e07b39', '#3a9a5b', '#b03a48', '#7a5cb8', '#8c6d31'];

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function niceStep(range: number, ticks: number): number {
  const raw = range / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

const fmt = (v: number) =>
  Math.abs(v) >= 1000 || (v !== 0 && Math.abs(v) < 0.01)
    ? v.toExponential(1)
    : String(Math.round(v * 1000) / 1000);

export function curveSvg(chart: CurveChart): string {
  const W = chart.width ?? 640;
  const H = chart.height ?? 400;
  const m = { left: 64, right: 16, top: 40, bottom: 52 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const all = chart.series.flatMap((s) => s.points);
  const xMax = Math.log2(Math.max(2, ...all.map((p) => p.n)));
  const yMax = Math.max(1e-9, ...all.map((p) => (Number.isFinite(p.hi) ? p.hi : p.mean)));
  const yStep = niceStep(yMax, 5);
  const yTop = Math.ceil(yMax / yStep) * yStep;
  const x = (n: number) => m.left + (Math.log2(Math.max(1, n)) / xMax) * pw;
  const y = (v: number) => m.top + ph - (v / yTop) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="600">${esc(chart.title)}</text>`,
  ];
  for (let v = 0; v <= yTop + 1e-12; v += yStep) {
    out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${y(v)}" y2="${y(v)}" stroke="#e6e6e6"/>`);
    out.push(`<text x="${m.left - 6}" y="${y(v) + 4}" text-anchor="end" fill="#444">${fmt(v)}</text>`);
  }
  const xStep = xMax > 12 ? 3 : xMax > 6 ? 2 : 1;
  for (let e = 0; e <= xMax + 1e-9; e += xStep) {
    const px = x(2 ** e);
    out.push(`<line x1="${px}" x2="${px}" y1="${m.top}" y2="${m.top + ph}" stroke="#f0f0f0"/>`);
    out.push(
      `<text x="${px}" y="${m.top + ph + 16}" text-anchor="middle" fill="#444">2<tspan dy="-5" font-size="9">${e}</tspan></text>`,
    );
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${m.left + pw / 2}" y="${H - 12}" text-anchor="middle">edges kept N (log scale)</text>`);
  out.push(
    `<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(chart.yLabel ?? 'mean KL(full model ‖ subcircuit)')}</text>`,
  );
  chart.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const pts = s.points.filter((p) => p.n >= 1);
    if (pts.some((p) => Number.isFinite(p.lo) && Number.isFinite(p.hi) && p.lo !== p.hi)) {
      const band = [
        ...pts.map((p) => `${x(p.n)},${y(p.hi)}`),
        ...[...pts].reverse().map((p) => `${x(p.n)},${y(p.lo)}`),
      ].join(' ');
      out.push(`<polygon points="${band}" fill="${color}" fill-opacity="0.18" stroke="none"/>`);
    }
    out.push(
      `<polyline points="${pts.map((p) => `${x(p.n)},${y(p.mean)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`,
    );
    const ly = m.top + 14 + i * 18;
    out.push(
      `<line x1="${m.left + pw - 150}" x2="${m.left + pw - 128}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="3"/>`,
    );
    out.push(`<text x="${m.left + pw - 122}" y="${ly + 4}">${esc(s.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
