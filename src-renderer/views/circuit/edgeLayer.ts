/**
 * The graph's edges, painted on a canvas under Cytoscape's node layer and kept in step with its viewport.
 * Cytoscape keeps per-element state for every edge: adding or removing tens of thousands on a slider move costs
 * seconds; here the top-N edges are a few typed arrays, grouped by look (diff class × strength level) so each
 * redraw is one path per group.
 */
import { DIFF_COLOURS, EDGE_COLOUR, edgeOpacity, edgeWidth, SELECT_COLOUR } from './graphStyle.ts';
import { nodeNum, type GraphModel } from './graphModel.ts';

export interface EdgeBatch {
  color: string;
  /** Line width in graph units (scaled by the zoom when drawn). */
  width: number;
  opacity: number;
  dashed: boolean;
  /** x1, y1, x2, y2 per edge, graph coordinates. */
  seg: Float32Array;
}

const LEVELS = 6;
/** Groups with more segments than this are drawn as hairlines. */
const HAIRLINE_ABOVE = 768;
const CLASSES = ['', 'shared', 'onlyA', 'onlyB', 'unmatched', 'hl'] as const;

function colourOf(cls: (typeof CLASSES)[number]): string {
  if (cls === '') return EDGE_COLOUR;
  if (cls === 'hl') return SELECT_COLOUR;
  return DIFF_COLOURS[cls];
}

/** Edges grouped by look, weakest first (strong edges are drawn on top); `highlight`'s edges last; x × sx. */
export function edgeBatches(model: GraphModel, highlight: string | null, sx = 1): EdgeBatch[] {
  const pos = new Map<number, { x: number; y: number }>();
  let hl = -1;
  for (const n of model.nodes) {
    const id = nodeNum(n.col, n.latent);
    pos.set(id, { x: n.x * sx, y: n.y });
    if (n.key === highlight) hl = id;
  }
  const groups = CLASSES.length * LEVELS;
  const counts = new Int32Array(groups);
  const group = new Int32Array(model.edges.length);
  model.edges.forEach((e, k) => {
    const c =
      hl >= 0 && (nodeNum(e.up, e.i) === hl || nodeNum(e.down, e.j) === hl)
        ? 5
        : Math.max(0, CLASSES.indexOf(e.cls as (typeof CLASSES)[number]));
    const level = Math.min(LEVELS - 1, Math.floor(e.rel * LEVELS));
    const g = c * LEVELS + level;
    group[k] = g;
    counts[g]++;
  });
  const segs = Array.from(counts, (c) => new Float32Array(c * 4));
  const fill = new Int32Array(groups);
  model.edges.forEach((e, k) => {
    const a = pos.get(nodeNum(e.up, e.i));
    const b = pos.get(nodeNum(e.down, e.j));
    if (!a || !b) return;
    const g = group[k];
    const o = fill[g]++ * 4;
    const s = segs[g];
    s[o] = a.x;
    s[o + 1] = a.y;
    s[o + 2] = b.x;
    s[o + 3] = b.y;
  });
  const out: EdgeBatch[] = [];
  // Plain and diff classes interleaved by level (weak first), the highlight last.
  for (let level = 0; level < LEVELS; level++)
    for (let c = 0; c < CLASSES.length - 1; c++) {
      const g = c * LEVELS + level;
      if (!fill[g]) continue;
      const rel = (level + 0.5) / LEVELS;
      out.push({
        color: colourOf(CLASSES[c]),
        width: edgeWidth(rel),
        opacity: edgeOpacity(rel),
        dashed: CLASSES[c] === 'unmatched',
        seg: segs[g].subarray(0, fill[g] * 4),
      });
    }
  for (let level = 0; level < LEVELS; level++) {
    const g = 5 * LEVELS + level;
    if (fill[g])
      out.push({
        color: SELECT_COLOUR,
        width: edgeWidth((level + 0.5) / LEVELS) + 0.5,
        opacity: 1,
        dashed: false,
        seg: segs[g].subarray(0, fill[g] * 4),
      });
  }
  return out;
}

/** Paints the batches for a viewport (pan in CSS px, zoom) on a canvas of CSS size w × h at pixel ratio dpr. */
export function drawEdges(
  ctx: CanvasRenderingContext2D,
  batches: EdgeBatch[],
  view: { pan: { x: number; y: number }; zoom: number },
  w: number,
  h: number,
  dpr: number,
): void {
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, w * dpr, h * dpr);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.lineCap = 'round';
  const { zoom } = view;
  const px = view.pan.x;
  const py = view.pan.y;
  for (const b of batches) {
    const s = b.seg;
    const count = s.length / 4;
    // Wide strokes of many segments go through the path stroker, which is superlinear in the segments of one
    // path (seconds for tens of thousands in software rendering): big groups are drawn as 1 px hairlines (their
    // strength shows in the opacity), small ones at their width in short paths.
    const width = count > HAIRLINE_ABOVE ? 1 : Math.max(1, b.width * zoom);
    const chunk = width > 1 ? 128 : count;
    ctx.strokeStyle = b.color;
    ctx.globalAlpha = b.opacity;
    ctx.lineWidth = width;
    ctx.setLineDash(b.dashed ? [4, 3] : []);
    for (let start = 0; start < count; start += chunk) {
      ctx.beginPath();
      const end = Math.min(count, start + chunk) * 4;
      for (let o = start * 4; o < end; o += 4) {
        ctx.moveTo(s[o] * zoom + px, s[o + 1] * zoom + py);
        ctx.lineTo(s[o + 2] * zoom + px, s[o + 3] * zoom + py);
      }
      ctx.stroke();
    }
  }
  ctx.globalAlpha = 1;
  ctx.setLineDash([]);
}
