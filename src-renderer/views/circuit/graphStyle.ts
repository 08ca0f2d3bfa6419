/**
 * How the graph looks — Cytoscape's node style, the edge layer and the exported SVG alike: concrete colours (the
 * Okabe–Ito palette; the A/B diff in blue / vermillion / grey, unmatched dashed), edges as straight lines whose
 * width and opacity follow the score relative to the pair's strongest edge.
 */
import type { StylesheetJson } from 'cytoscape';
import { THEME } from '../../lib/charts/plot.ts';

export const DIFF_COLOURS = {
  shared: '#5F6B7A',
  onlyA: '#0072B2',
  onlyB: '#D55E00',
  unmatched: '#B8C0CC',
} as const;

export const EDGE_COLOUR = '#7a8696';
export const SELECT_COLOUR = '#2f5fd0';

/** Cytoscape refuses quoted family names: the theme's font list without them. */
const GRAPH_FONT = THEME.font.replace(/'/g, '');

export const edgeWidth = (rel: number) => 0.5 + 3.5 * rel;
export const edgeOpacity = (rel: number) => 0.18 + 0.62 * rel;

export function graphStyle(): StylesheetJson {
  // 'data(size)' and the like are valid style values that the typings do not list.
  return [
    {
      selector: 'node',
      style: {
        width: 'data(size)',
        height: 'data(size)',
        'background-color': 'data(color)',
        'border-width': 1,
        'border-color': '#ffffff',
        label: 'data(text)',
        'font-size': 9,
        'font-family': GRAPH_FONT,
        color: THEME.text,
        'text-valign': 'center',
        'text-halign': 'right',
        'text-margin-x': 3,
        'min-zoomed-font-size': 7,
      },
    },
    {
      selector: 'node.unmatched',
      style: {
        'border-style': 'dashed',
        'border-color': THEME.muted,
        'border-width': 2,
        'background-opacity': 0.45,
      },
    },
    { selector: 'node.pinned', style: { 'border-width': 3, 'border-color': THEME.text } },
    { selector: 'node.sel', style: { 'border-width': 3, 'border-color': SELECT_COLOUR, 'z-index': 20 } },
  ] as unknown as StylesheetJson;
}
