/**
 * Figures in Node: the shared builders (src-shared/figures) run against a linkedom document, and resvg turns
 * their SVG into PNG. What `scalar report` and the pipeline report write; the app draws the same builders in the
 * browser.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { parseHTML } from 'linkedom';
import { figureSize, svgText } from '../../src-shared/figures/dom.ts';
import {
  figureFile,
  REPORT_FIGURE_WIDTH,
  reportTextFiles,
  type ComparisonData,
  type FigureSpec,
} from '../../src-shared/compare/report.ts';

/** A fresh DOM document for Plot to build into. */
export function nodeDocument(): Document {
  return parseHTML('<!doctype html><html><head></head><body></body></html>').document as unknown as Document;
}

/** An SVG figure's text as a PNG, `scale` × its size, on white. */
export function svgToPng(svg: string, scale = 2): Buffer {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: '#ffffff',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}

export interface RenderedFigure {
  svg: string;
  png: Buffer;
  width: number;
  height: number;
}

/** A figure's SVG text, built in a fresh linkedom document. */
export function figureSvg(build: (doc: Document, width: number) => SVGSVGElement, width: number): string {
  return svgText(build(nodeDocument(), width));
}

export function renderFigure(
  build: (doc: Document, width: number) => SVGSVGElement,
  width: number,
): RenderedFigure {
  const doc = nodeDocument();
  const figure = build(doc, width);
  const svg = svgText(figure);
  return { svg, png: svgToPng(svg), ...figureSize(figure) };
}

/** Writes a comparison's figures (SVG + PNG at 2×), their data, the tables and comparison.json under `dir`. */
export function writeReport(
  dir: string,
  data: ComparisonData,
  figures: FigureSpec[],
  width = REPORT_FIGURE_WIDTH,
): string[] {
  const written: string[] = [];
  const put = (rel: string, content: string | Buffer) => {
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
    written.push(rel);
  };
  for (const f of figures) {
    const r = renderFigure(f.build, width);
    put(figureFile(f.name, 'svg'), r.svg);
    put(figureFile(f.name, 'png'), r.png);
  }
  for (const t of reportTextFiles(data, figures)) put(t.path, t.text);
  return written;
}
