/**
 * What every figure goes through before it is shown or saved, in the browser and in Node (linkedom): Plot's
 * <style> element replaced by inline styles, a title and a legend strip composed into one SVG, and the SVG text
 * of a figure as a standalone file.
 */
import { THEME } from './theme.ts';

export const SVG_NS = 'http://www.w3.org/2000/svg';

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

const size = (svg: Element, name: 'width' | 'height') => Number(svg.getAttribute(name)) || 0;

/**
 * One standalone SVG of stacked parts (title line, legend strip, plot): each part keeps its own coordinates
 * inside a nested <svg> placed at its offset. What is exported and what the CLI writes.
 */
export function stackFigures(doc: Document, parts: SVGSVGElement[], title?: string): SVGSVGElement {
  const width = Math.max(...parts.map((p) => size(p, 'width')));
  const outer = doc.createElementNS(SVG_NS, 'svg') as SVGSVGElement;
  let y = 0;
  const titleHeight = title ? THEME.fontSize + 12 : 0;
  const bg = doc.createElementNS(SVG_NS, 'rect');
  outer.append(bg);
  if (title) {
    const t = doc.createElementNS(SVG_NS, 'text');
    t.setAttribute('x', String(THEME.margin.left));
    t.setAttribute('y', String(THEME.fontSize + 4));
    t.setAttribute('font-size', String(THEME.fontSize + 2));
    t.setAttribute('font-weight', '600');
    t.setAttribute('font-family', THEME.font);
    t.setAttribute('fill', THEME.text);
    t.textContent = title;
    outer.append(t);
    y += titleHeight;
  }
  for (const p of parts) {
    const h = size(p, 'height');
    p.setAttribute('x', '0');
    p.setAttribute('y', String(y));
    // Inline styles (set for the page) become attributes every SVG renderer reads.
    p.removeAttribute('style');
    p.setAttribute('color', THEME.text);
    p.setAttribute('font-size', String(THEME.fontSize));
    p.setAttribute('font-family', THEME.font);
    outer.append(p);
    y += h;
  }
  outer.setAttribute('xmlns', SVG_NS);
  outer.setAttribute('width', String(width));
  outer.setAttribute('height', String(y));
  outer.setAttribute('viewBox', `0 0 ${width} ${y}`);
  outer.setAttribute('font-family', THEME.font);
  bg.setAttribute('width', String(width));
  bg.setAttribute('height', String(y));
  bg.setAttribute('fill', THEME.background);
  return outer;
}

/** The text of a figure as an .svg file: namespaced, without the hover tip (not part of the figure). */
export function svgText(svg: SVGSVGElement): string {
  const copy = svg.cloneNode(true) as SVGSVGElement;
  copy.setAttribute('xmlns', SVG_NS);
  copy.querySelectorAll('[aria-label="tip"]').forEach((n) => n.remove());
  copy.querySelectorAll('style').forEach((n) => n.remove());
  // The browser's XMLSerializer where there is one (strict XML); linkedom's outerHTML in Node.
  return typeof XMLSerializer === 'undefined' ? copy.outerHTML : new XMLSerializer().serializeToString(copy);
}

/** The pixel size of a figure (its width and height attributes). */
export function figureSize(svg: SVGSVGElement): { width: number; height: number } {
  return { width: size(svg, 'width'), height: size(svg, 'height') };
}
