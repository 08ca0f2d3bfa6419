/**
 * A/B diff of two runs' top-N edges on the same pair. Same SAEs: an edge is the same edge when its (i, j) is.
 * Different SAEs (architectures): B's latents are mapped to A's through the one-to-one decoder matching of each
 * hook, and edges are compared in A's latents; an edge with an endpoint that has no match is `unmatched`.
 */

export type EdgeDiff = 'shared' | 'onlyA' | 'onlyB' | 'unmatched';

/** Per column: A latent → B latent and back (absent: unmatched). */
export interface ColumnMatch {
  aToB: Map<number, number>;
  bToA: Map<number, number>;
  cos: Map<number, number>;
}

export interface DiffCounts {
  shared: number;
  onlyA: number;
  onlyB: number;
  unmatchedA: number;
  unmatchedB: number;
}

export interface PairDiff {
  /** Class of A's edge at each rank < nA, and of B's at each rank < nB. */
  a: EdgeDiff[];
  b: EdgeDiff[];
  counts: DiffCounts;
}

interface Edges {
  i: ArrayLike<number>;
  j: ArrayLike<number>;
  n: number;
}

const key = (i: number, j: number) => i * 4_194_304 + j;

/**
 * Classes of A's top nA edges and B's top nB edges. `up`/`down` match the pair's two columns (null: the same
 * SAEs, latents compared by id).
 */
export function diffPair(a: Edges, b: Edges, up: ColumnMatch | null, down: ColumnMatch | null): PairDiff {
  const counts: DiffCounts = { shared: 0, onlyA: 0, onlyB: 0, unmatchedA: 0, unmatchedB: 0 };
  const toA = (m: ColumnMatch | null, x: number) => (m ? m.bToA.get(x) : x);
  const hasB = (m: ColumnMatch | null, x: number) => (m ? m.aToB.has(x) : true);
  const inA = new Set<number>();
  for (let r = 0; r < a.n; r++) inA.add(key(a.i[r], a.j[r]));
  const inB = new Set<number>();
  const bClass: EdgeDiff[] = new Array(b.n);
  for (let r = 0; r < b.n; r++) {
    const i = toA(up, b.i[r]);
    const j = toA(down, b.j[r]);
    if (i === undefined || j === undefined) {
      bClass[r] = 'unmatched';
      counts.unmatchedB++;
      continue;
    }
    const k = key(i, j);
    inB.add(k);
    if (inA.has(k)) {
      bClass[r] = 'shared';
      counts.shared++;
    } else {
      bClass[r] = 'onlyB';
      counts.onlyB++;
    }
  }
  const aClass: EdgeDiff[] = new Array(a.n);
  for (let r = 0; r < a.n; r++) {
    if (!hasB(up, a.i[r]) || !hasB(down, a.j[r])) {
      aClass[r] = 'unmatched';
      counts.unmatchedA++;
    } else if (inB.has(key(a.i[r], a.j[r]))) aClass[r] = 'shared';
    else {
      aClass[r] = 'onlyA';
      counts.onlyA++;
    }
  }
  return { a: aClass, b: bClass, counts };
}

export function addCounts(xs: DiffCounts[]): DiffCounts {
  const out: DiffCounts = { shared: 0, onlyA: 0, onlyB: 0, unmatchedA: 0, unmatchedB: 0 };
  for (const c of xs) for (const k of Object.keys(out) as (keyof DiffCounts)[]) out[k] += c[k];
  return out;
}

/** Jaccard overlap of the two edge sets (shared / union), over matched edges. */
export function overlap(c: DiffCounts): number | null {
  const union = c.shared + c.onlyA + c.onlyB;
  return union ? c.shared / union : null;
}
