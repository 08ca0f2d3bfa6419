/**
 * The planted-circuit validation's recovery matrix (issue 15): one cell per (condition, ranking method), the
 * mean recovery metric written in it, cells whose verdict is not `holds` outlined. Observable Plot, same theme
 * as the other figures; `document` is the browser's or linkedom's.
 */
import * as Plot from '@observablehq/plot';
import { withoutStyleElement } from './dom.ts';
import { formatNumber, THEME } from './theme.ts';

export interface RecoveryCell {
  condition: string;
  method: string;
  /** The metric's mean over circuits (null: not measured, e.g. Spearman with one true edge). */
  value: number | null;
  sd: number | null;
  verdict: string;
}

/**
 * Methods (x) × conditions (y). `domain` fixes the colour scale: [0, 1] for precision, AUROC and Spearman's
 * useful range; the curve-area ratio is drawn reversed (lower is better) by the caller passing `reverse`.
 */
export function recoveryHeatmap(
  cells: RecoveryCell[],
  o: { width: number; metric: string; domain: [number, number]; reverse?: boolean },
  document?: Document,
): SVGSVGElement {
  const shown = cells.filter((c) => c.value !== null && Number.isFinite(c.value));
  const conditions = [...new Set(cells.map((c) => c.condition))];
  const methods = [...new Set(cells.map((c) => c.method))];
  const [lo, hi] = o.domain;
  // Text is white on the darker half of the scale (high values, or low ones when reversed).
  const dark = (v: number) => (v - lo) / (hi - lo) > 0.55 !== Boolean(o.reverse);
  const rowHeight = 28;
  const figure = Plot.plot({
    document,
    width: o.width,
    height: THEME.margin.top + THEME.margin.bottom + 12 + rowHeight * Math.max(1, conditions.length),
    marginTop: THEME.margin.top + 12,
    marginBottom: THEME.margin.bottom,
    marginLeft: Math.min(150, 10 + 6.4 * Math.max(4, ...conditions.map((c) => c.length))),
    marginRight: THEME.margin.right,
    style: {
      fontSize: `${THEME.fontSize}px`,
      fontFamily: THEME.font,
      color: THEME.text,
      background: 'transparent',
    },
    x: { type: 'band', domain: methods, label: null, axis: 'top', tickRotate: 0 },
    y: { type: 'band', domain: conditions, label: null },
    color: { type: 'linear', domain: [lo, hi], scheme: 'blues', reverse: o.reverse, clamp: true },
    marks: [
      Plot.cell(shown, { x: 'method', y: 'condition', fill: 'value', inset: 0.5 }),
      Plot.cell(
        shown.filter((c) => c.verdict !== 'holds'),
        {
          x: 'method',
          y: 'condition',
          stroke: (c: RecoveryCell) => (c.verdict === 'fails' ? '#d55e00' : '#e69f00'),
          strokeWidth: 2,
          inset: 1.5,
          fill: 'none',
        },
      ),
      Plot.text(shown, {
        x: 'method',
        y: 'condition',
        text: (c: RecoveryCell) => formatNumber(c.value, 2),
        fill: (c: RecoveryCell) => (dark(c.value as number) ? 'white' : THEME.text),
      }),
      Plot.tip(
        shown,
        Plot.pointer({
          x: 'method',
          y: 'condition',
          title: (c: RecoveryCell) =>
            `${c.condition} · ${c.method}\n${o.metric} ${formatNumber(c.value, 3)} ± ${formatNumber(c.sd, 2)}\nverdict: ${c.verdict}`,
        }),
      ),
    ],
  }) as SVGSVGElement;
  return withoutStyleElement(figure);
}
