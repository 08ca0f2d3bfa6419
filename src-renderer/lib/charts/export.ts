/** Figures out of the app: a chart as SVG or PNG, and the data behind it as CSV. */
import type { ChartSeries } from './plot.ts';

function download(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A file-name-safe stem: `val loss (blocks.0)` → `val-loss-blocks.0`. */
export function fileStem(name: string): string {
  return name.replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '') || 'chart';
}

function svgText(svg: SVGSVGElement): string {
  const copy = svg.cloneNode(true) as SVGSVGElement;
  copy.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  // The hover tip is not part of the figure (the pointer has left the chart by the time a button is clicked).
  copy.querySelectorAll('[aria-label="tip"]').forEach((n) => n.remove());
  return new XMLSerializer().serializeToString(copy);
}

export function downloadSvg(svg: SVGSVGElement, name: string): void {
  download(new Blob([svgText(svg)], { type: 'image/svg+xml' }), `${fileStem(name)}.svg`);
}

/** PNG at twice the on-screen size, on a white background. */
export async function downloadPng(svg: SVGSVGElement, name: string, scale = 2): Promise<void> {
  const { width, height } = svg.getBoundingClientRect();
  const url = URL.createObjectURL(new Blob([svgText(svg)], { type: 'image/svg+xml' }));
  try {
    const img = new Image();
    await new Promise<void>((resolve, reject) => {
      img.onload = () => resolve();
      img.onerror = () => reject(new Error('could not render the chart as an image'));
      img.src = url;
    });
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(width * scale);
    canvas.height = Math.round(height * scale);
    const ctx = canvas.getContext('2d')!;
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
    if (blob) download(blob, `${fileStem(name)}.png`);
  } finally {
    URL.revokeObjectURL(url);
  }
}

const csvCell = (v: string | number | null | undefined): string => {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** Long format, one row per point: series,x,y,lo,hi. */
export function seriesCsv(series: ChartSeries[], xLabel = 'x', yLabel = 'y'): string {
  const lines = [['series', xLabel, yLabel, 'lo', 'hi'].map(csvCell).join(',')];
  for (const s of series)
    for (const p of s.points)
      lines.push([s.label, p.x, p.y, p.lo ?? null, p.hi ?? null].map(csvCell).join(','));
  return `${lines.join('\n')}\n`;
}

export function downloadCsv(series: ChartSeries[], name: string, xLabel?: string, yLabel?: string): void {
  download(new Blob([seriesCsv(series, xLabel, yLabel)], { type: 'text/csv' }), `${fileStem(name)}.csv`);
}
