/**
 * How many of the budget's edges the explorer loads and draws. The budget N reads the SCALAR curve at any stored
 * N (10⁶ edges of a 24,576-latent GPT-2 pair), but the graph, filters, A/B diff and exports work on the top
 * `min(N, cap)` edges only and the nodes those touch: the cap starts at DRAW_DEFAULT and "Draw more" doubles it
 * up to DRAW_MAX (one `graph.edges` page; the size `bench explorer` measures).
 */
import { MAX_EDGES_PER_REQUEST } from './edges.ts';

export const DRAW_DEFAULT = 5_000;
export const DRAW_MAX = MAX_EDGES_PER_REQUEST;

/** The edges drawn at budget n under `cap`. */
export function drawnEdges(n: number, cap: number): number {
  return Math.max(0, Math.min(n, cap));
}

/** The cap after "Draw more" (null when it is already at DRAW_MAX). */
export function moreCap(cap: number): number | null {
  return cap >= DRAW_MAX ? null : Math.min(DRAW_MAX, cap * 2);
}
