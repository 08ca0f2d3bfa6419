/**
 * The legend of a saved figure: a strip of line swatches and labels drawn with Plot's own marks (link, dot,
 * text) on identity scales, laid out in columns. The app shows an interactive HTML legend instead; files get this.
 */
import * as Plot from '@observablehq/plot';
import { withoutStyleElement } from './dom.ts';
import { THEME } from './theme.ts';

export interface LegendItem {
  label: string;
  color: string;
  dashed?: boolean;
  /** 'line' (default) or 'dot' (scatter plots). */
  shape?: 'line' | 'dot';
}

const ROW = 16;
const MAX_LABEL = 42;
const clip = (s: string) => (s.length > MAX_LABEL ? `${s.slice(0, MAX_LABEL - 1)}…` : s);

/** Where each item goes: columns as wide as the longest label, as many as fit in the width. */
export function legendLayout(
  items: LegendItem[],
  width: number,
): { x: number; y: number; item: LegendItem }[] {
  const left = THEME.margin.left;
  const longest = Math.max(1, ...items.map((i) => clip(i.label).length));
  const colWidth = Math.min(width - left, Math.ceil(longest * THEME.fontSize * 0.6) + 34);
  const cols = Math.max(1, Math.floor((width - left - THEME.margin.right) / colWidth));
  return items.map((item, i) => ({
    x: left + (i % cols) * colWidth,
    y: 10 + Math.floor(i / cols) * ROW,
    item,
  }));
}

export function legendStrip(items: LegendItem[], width: number, document?: Document): SVGSVGElement {
  const placed = legendLayout(items, width);
  const rows = placed.length ? Math.max(...placed.map((p) => p.y)) + ROW / 2 + 2 : 0;
  const data = placed.map((p) => ({
    x: p.x,
    y: p.y,
    label: clip(p.item.label),
    color: p.item.color,
    dashed: !!p.item.dashed,
    dot: p.item.shape === 'dot',
  }));
  const lines = data.filter((d) => !d.dot);
  const figure = Plot.plot({
    document,
    width,
    height: Math.max(ROW, rows),
    margin: 0,
    x: { type: 'identity', axis: null },
    y: { type: 'identity', axis: null },
    style: {
      fontSize: `${THEME.fontSize}px`,
      fontFamily: THEME.font,
      color: THEME.text,
      background: 'transparent',
    },
    marks: [
      Plot.link(
        lines.filter((d) => !d.dashed),
        { x1: 'x', x2: (d) => d.x + 16, y1: 'y', y2: 'y', stroke: 'color', strokeWidth: 2.5 },
      ),
      Plot.link(
        lines.filter((d) => d.dashed),
        {
          x1: 'x',
          x2: (d) => d.x + 16,
          y1: 'y',
          y2: 'y',
          stroke: 'color',
          strokeWidth: 2.5,
          strokeDasharray: '4,2',
        },
      ),
      Plot.dot(
        data.filter((d) => d.dot),
        { x: (d) => d.x + 8, y: 'y', fill: 'color', r: 4 },
      ),
      Plot.text(data, { x: (d) => d.x + 21, y: 'y', text: 'label', textAnchor: 'start', fill: THEME.text }),
    ],
  }) as SVGSVGElement;
  return withoutStyleElement(figure);
}
