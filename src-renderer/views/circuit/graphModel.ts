/**
 * What the circuit graph shows at a budget N, as plain data: nodes with deterministic positions (one column per
 * hook, upstream left; latents ordered top-down by their strongest edge, wrapping into sub-columns when a column
 * gets tall), sizes from activation frequency, colours by position or staircase chunk, and the top-N edges of
 * every pair of the chain after the filters. Cytoscape only draws it (CircuitGraph.svelte).
 */
import { PALETTE } from '../../lib/charts/palette.ts';
import type { GraphNode, PairEdges } from './edges.ts';

export interface Column {
  hook: string;
  /** The SAE run whose latents this column shows. */
  run: string;
}

export interface ChainPair {
  label: string;
  edges: PairEdges;
  /** Column indices of its upstream and downstream hooks. */
  up: number;
  down: number;
}

export interface Filters {
  /** Only these latent ids (and their edges), or null for all. */
  ids: Set<number> | null;
  /** Only latents whose label contains this (case-insensitive), '' for all. */
  label: string;
  /** Only columns in [from, to] (null: no bound). */
  from: number | null;
  to: number | null;
  /** Only the pinned latents and their edges. */
  pinnedOnly: boolean;
}

export const NO_FILTERS: Filters = { ids: null, label: '', from: null, to: null, pinnedOnly: false };

export type ColourBy = 'position' | 'chunk';

export interface NodeSpec {
  key: string;
  col: number;
  latent: number;
  info: GraphNode | null;
  /** Rank of its strongest edge in the chain (its place in the column). */
  order: number;
  x: number;
  y: number;
  size: number;
  color: string;
  /** Extra classes (A/B: `unmatched`). */
  cls: string;
}

export interface EdgeSpec {
  pair: number;
  rank: number;
  /** Columns of its upstream and downstream latents. */
  up: number;
  down: number;
  i: number;
  j: number;
  score: number;
  /** |score| relative to the pair's strongest edge, in (0, 1]. */
  rel: number;
  cls: string;
}

export interface GraphModel {
  nodes: NodeSpec[];
  edges: EdgeSpec[];
  /** Edges within the budget that the filters hid. */
  filtered: number;
}

/** Optional A/B decorations: a class per edge (by pair and rank) and per node. */
export interface Decorations {
  edgeClass?: (pair: number, rank: number) => string;
  nodeClass?: (col: number, latent: number) => string;
}

export const LAYOUT = { rows: 40, dy: 22, subDx: 56, colGap: 300 } as const;

export const nodeKey = (col: number, latent: number) => `n${col}_${latent}`;
/** A numeric node id (col, latent) for hot loops. */
export const nodeNum = (col: number, latent: number) => col * 4_194_304 + latent;
export const edgeSource = (e: EdgeSpec) => nodeKey(e.up, e.i);
export const edgeTarget = (e: EdgeSpec) => nodeKey(e.down, e.j);

export function parseNodeKey(key: string): { col: number; latent: number } | null {
  const m = /^n(\d+)_(\d+)$/.exec(key);
  return m ? { col: Number(m[1]), latent: Number(m[2]) } : null;
}

/** `3, 10-12 40` → {3, 10, 11, 12, 40}; null when empty; ranges capped at 5,000 ids. */
export function parseIds(text: string): Set<number> | null {
  const out = new Set<number>();
  for (const part of text.split(/[\s,;]+/).filter(Boolean)) {
    const m = /^(\d+)(?:[-–](\d+))?$/.exec(part);
    if (!m) continue;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let v = Math.min(a, b); v <= Math.max(a, b) && out.size < 5000; v++) out.add(v);
  }
  return out.size ? out : null;
}

/** Diameter from activation frequency (log scale, 10⁻⁵ … 1), at most the row spacing so nodes never overlap. */
function nodeSize(info: GraphNode | null, order: number, maxOrder: number): number {
  const max = LAYOUT.dy - 2;
  if (info?.freq !== null && info?.freq !== undefined) {
    if (info.freq <= 0) return 5;
    const t = Math.max(0, Math.min(1, (Math.log10(info.freq) + 5) / 5));
    return Math.round(6 + (max - 6) * t);
  }
  // No latent statistics: the strongest-connected latents are drawn larger.
  const t = 1 - Math.log2(1 + order) / Math.log2(2 + maxOrder);
  return Math.round(6 + (max - 6) * t);
}

export const NEUTRAL = '#8a94a3';

function nodeColour(col: number, info: GraphNode | null, by: ColourBy): string {
  if (by === 'chunk')
    return info?.chunk === null || info?.chunk === undefined ? NEUTRAL : PALETTE[info.chunk % 8];
  return PALETTE[col % PALETTE.length];
}

/** The rank of a latent's strongest edge among the pairs touching its column (Infinity when none is loaded). */
function orderOf(chain: ChainPair[], col: number, latent: number): number {
  let best = Infinity;
  for (const p of chain) {
    if (p.up === col) best = Math.min(best, p.edges.firstUp.get(latent) ?? Infinity);
    if (p.down === col) best = Math.min(best, p.edges.firstDown.get(latent) ?? Infinity);
  }
  return best;
}

function infoOf(chain: ChainPair[], col: number, latent: number): GraphNode | null {
  for (const p of chain) {
    if (p.up === col && p.edges.up.has(latent)) return p.edges.up.get(latent)!;
    if (p.down === col && p.edges.down.has(latent)) return p.edges.down.get(latent)!;
  }
  return null;
}

export function buildGraph(
  chain: ChainPair[],
  columns: Column[],
  budget: number,
  filters: Filters,
  pins: ReadonlySet<string>,
  colourBy: ColourBy,
  deco: Decorations = {},
): GraphModel {
  const label = filters.label.trim().toLowerCase();
  const inCols = (c: number) =>
    (filters.from === null || c >= filters.from) && (filters.to === null || c <= filters.to);
  const focused = filters.ids !== null || label !== '' || filters.pinnedOnly;
  const nodeMatches = (col: number, latent: number): boolean => {
    if (filters.pinnedOnly && !pins.has(nodeKey(col, latent))) return false;
    if (filters.ids && !filters.ids.has(latent)) return false;
    if (label) {
      const text = infoOf(chain, col, latent)?.label?.toLowerCase() ?? '';
      if (!text.includes(label)) return false;
    }
    return true;
  };
  const matchCache = new Map<string, boolean>();
  const matches = (col: number, latent: number) => {
    const k = nodeKey(col, latent);
    let v = matchCache.get(k);
    if (v === undefined) matchCache.set(k, (v = nodeMatches(col, latent)));
    return v;
  };

  const edges: EdgeSpec[] = [];
  const seen = new Map<number, { col: number; latent: number }>();
  let filtered = 0;
  chain.forEach((p, pi) => {
    const n = Math.min(budget, p.edges.loaded);
    const top = n > 0 ? Math.abs(p.edges.score[0]) || 1 : 1;
    const colsOk = inCols(p.up) && inCols(p.down);
    for (let rank = 0; rank < n; rank++) {
      const i = p.edges.i[rank];
      const j = p.edges.j[rank];
      if (!colsOk || (focused && !matches(p.up, i) && !matches(p.down, j))) {
        filtered++;
        continue;
      }
      const source = nodeNum(p.up, i);
      const target = nodeNum(p.down, j);
      if (!seen.has(source)) seen.set(source, { col: p.up, latent: i });
      if (!seen.has(target)) seen.set(target, { col: p.down, latent: j });
      const score = p.edges.score[rank];
      edges.push({
        pair: pi,
        rank,
        up: p.up,
        down: p.down,
        i,
        j,
        score,
        rel: Math.min(1, Math.abs(score) / top),
        cls: deco.edgeClass?.(pi, rank) ?? '',
      });
    }
  });
  // Pinned latents stay on the graph at every budget (in their columns, even without an edge at this N).
  for (const key of pins) {
    const k = /^n(\d+)_(\d+)$/.exec(key);
    if (k && Number(k[1]) < columns.length && inCols(Number(k[1])))
      seen.set(nodeNum(Number(k[1]), Number(k[2])), { col: Number(k[1]), latent: Number(k[2]) });
  }

  const maxOrder = Math.max(1, ...chain.map((p) => p.edges.loaded));
  const byCol = columns.map(() => [] as NodeSpec[]);
  for (const { col, latent } of seen.values()) {
    const info = infoOf(chain, col, latent);
    const order = orderOf(chain, col, latent);
    byCol[col].push({
      key: nodeKey(col, latent),
      col,
      latent,
      info,
      order,
      x: 0,
      y: 0,
      size: nodeSize(info, Number.isFinite(order) ? order : maxOrder, maxOrder),
      color: nodeColour(col, info, colourBy),
      cls: deco.nodeClass?.(col, latent) ?? '',
    });
  }
  let x0 = 0;
  for (const nodes of byCol) {
    nodes.sort((a, b) => a.order - b.order || a.latent - b.latent);
    nodes.forEach((node, k) => {
      node.x = x0 + Math.floor(k / LAYOUT.rows) * LAYOUT.subDx;
      node.y = (k % LAYOUT.rows) * LAYOUT.dy;
    });
    const subs = Math.max(1, Math.ceil(nodes.length / LAYOUT.rows));
    x0 += (subs - 1) * LAYOUT.subDx + LAYOUT.colGap;
  }
  return { nodes: byCol.flat(), edges, filtered };
}

/** A node's text on the graph: its label when it has one, else its id. */
export function nodeText(n: Pick<NodeSpec, 'latent' | 'info'>): string {
  const l = n.info?.label;
  return l ? (l.length > 24 ? `${l.slice(0, 23)}…` : l) : `#${n.latent}`;
}
