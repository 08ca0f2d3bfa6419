/**
 * Figures out of the app: a figure as SVG or PNG (2×, drawn from the SVG on a canvas), the data behind it as
 * CSV and JSON, and several files as one zip (fflate). The SVG text is the shared one (src-shared/figures/dom.ts),
 * the same the CLI report writes.
 */
import { svgText } from '../../../src-shared/figures/dom.ts';
import { seriesCsv } from '../../../src-shared/compare/tables.ts';
import type { ChartSeries } from './plot.ts';

export { svgText, seriesCsv };

export function download(blob: Blob, fileName: string): void {
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

export function downloadSvg(svg: SVGSVGElement, name: string): void {
  download(new Blob([svgText(svg)], { type: 'image/svg+xml' }), `${fileStem(name)}.svg`);
}

/** A PNG of an SVG figure at `scale` × its size (width/height attributes), on a white background. */
export async function pngBlob(svg: SVGSVGElement, scale = 2): Promise<Blob> {
  const width = Number(svg.getAttribute('width')) || svg.getBoundingClientRect().width;
  const height = Number(svg.getAttribute('height')) || svg.getBoundingClientRect().height;
  return svgTextToPng(svgText(svg), width, height, scale);
}

/** A PNG of an SVG document's text at `scale` × the size its root's width/height say (800 × 600 if absent). */
export async function svgDocumentToPng(svg: string, scale = 2): Promise<Blob> {
  const root = /<svg\b[^>]*>/.exec(svg)?.[0] ?? '';
  const width = Number(/\swidth="(\d+(?:\.\d+)?)"/.exec(root)?.[1] ?? 800);
  const height = Number(/\sheight="(\d+(?:\.\d+)?)"/.exec(root)?.[1] ?? 600);
  return svgTextToPng(svg, width, height, scale);
}

/** Draws SVG text on a canvas of `width·scale` × `height·scale` over white and encodes it as PNG. */
async function svgTextToPng(svg: string, width: number, height: number, scale: number): Promise<Blob> {
  const url = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
  try {
    const img = new Image();
    await new Promise<void>((resolve, reject) => {
      img.onload = () => resolve();
      img.onerror = () => reject(new Error('could not render the figure as an image'));
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
    if (!blob) throw new Error('could not encode the PNG');
    return blob;
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** PNG at twice the figure's size. */
export async function downloadPng(svg: SVGSVGElement, name: string, scale = 2): Promise<void> {
  download(await pngBlob(svg, scale), `${fileStem(name)}.png`);
}

export function downloadText(text: string, fileName: string, type = 'text/plain'): void {
  download(new Blob([text], { type }), fileName);
}

export function downloadCsv(series: ChartSeries[], name: string, xLabel?: string, yLabel?: string): void {
  downloadText(seriesCsv(series, xLabel, yLabel), `${fileStem(name)}.csv`, 'text/csv');
}

export function downloadJson(value: unknown, name: string): void {
  downloadText(`${JSON.stringify(value, null, 2)}\n`, `${fileStem(name)}.json`, 'application/json');
}
