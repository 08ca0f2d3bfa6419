/**
 * How many of the budget's edges the explorer loads and draws. The budget N reads the SCALAR curve at any stored
 * N (10⁶ edges of a 24,576-latent GPT-2 pair), but the graph, filters, A/B diff and exports work on the top
 * `min(N, cap)` edges only and the nodes those touch: the cap starts at DRAW_DEFAULT and "Draw more" doubles it
 * up to DRAW_MAX (one `graph.edges` page; the size `bench explorer` measures).
 *
 * Edges are also cut where the next rank would bring the graph past `nodeCap` latents (NODE_DEFAULT, doubled
 * with the edge cap): 5,000 edges of a 24,576-latent pair touch thousands of latents, which draw as a grey band,
 * while a few hundred latents stay readable. The cut is a prefix of the ranking, so "the top X edges" still holds.
 */
import type { ChainPair } from './graphModel.ts';
import { MAX_EDGES_PER_REQUEST } from './edges.ts';

export const DRAW_DEFAULT = 5_000;
export const DRAW_MAX = MAX_EDGES_PER_REQUEST;
export const NODE_DEFAULT = 400;

/** The edges drawn at budget n under `cap`. */
export function drawnEdges(n: number, cap: number): number {
  return Math.max(0, Math.min(n, cap));
}

/** The cap after "Draw more" (null when it is already at DRAW_MAX). */
export function moreCap(cap: number): number | null {
  return cap >= DRAW_MAX ? null : Math.min(DRAW_MAX, cap * 2);
}

/**
 * The most ranks r ≤ n such that the top r edges of every pair of the chain touch at most `nodeCap` distinct
 * latents (a node is a column and a latent); at least 1 when n ≥ 1, so the top edge always shows. Reads only
 * edges already loaded (ranks beyond `loaded` end the scan).
 */
export function ranksWithinNodes(chain: ChainPair[], n: number, nodeCap: number): number {
  const seen = new Set<number>();
  const key = (col: number, latent: number) => col * 2 ** 26 + latent;
  const loaded = Math.min(n, ...chain.map((p) => p.edges.loaded));
  for (let r = 0; r < loaded; r++) {
    for (const p of chain) {
      seen.add(key(p.up, p.edges.i[r]));
      seen.add(key(p.down, p.edges.j[r]));
    }
    if (seen.size > nodeCap) return Math.max(1, r);
  }
  return n;
}
