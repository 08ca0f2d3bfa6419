/**
 * Edge rankings without the F₀·F₁ arrays (SPEC §4.2, the order of ranking.ts). A pair only ever needs the
 * first K ranks, K = the largest budget of its grid (or the stored edge count, if larger): the ablation keeps the
 * top-N edges for N ≤ K and nothing else reads the ranking. So
 *
 *   - scores arrive in blocks (rows × columns of the active edge set, see attributionSparse.ts) and a
 *     TopEdgeSelector keeps the best K positive ones in O(K) memory, in rankByScore's order: score
 *     descending, then edge index ascending;
 *   - when K passes the number P of positive edges, ranks P … K−1 are the first K − P entries of rankByScore's
 *     seeded shuffle of the zero-score edges: the same shuffle of the same list (every other edge, in index
 *     order), so the same edges — at the price of one int32 per zero-score edge while it is drawn;
 *   - a random ranking is the first K entries of randomRanking (F₀·F₁ int32 while it is drawn).
 *
 * KeptIndex turns the ranked prefix into what the ablation asks per budget: each upstream latent's kept edges
 * by rank, and the rank at which each downstream latent gets its first edge (from then on it is in the
 * subcircuit, with the empty input's value where none of its kept upstream latents is active).
 */
import { Rng } from '../random.ts';
import type { MemoryBudget } from './memory.ts';
import { randomRanking } from './ranking.ts';

/** The first K ranks of a pair's ranking. */
export interface RankedEdges {
  /** Edge e = i·F₁ + j at ranks 0 … K−1. */
  ranking: Int32Array;
  /** Their scores (0 in the zero-score tail); null for a random ranking. */
  scores: Float32Array | null;
  /** Edges of the pair scoring > 0 (ranks ≥ positive are the seeded zero-score order); total for random. */
  positive: number;
  /** F₀·F₁. */
  total: number;
}

/** Edge indices are int32 (as every ranking here): F₀·F₁ must stay below 2³¹. */
export function checkEdgeCount(f0: number, f1: number): number {
  const total = f0 * f1;
  if (total >= 2 ** 31)
    throw new Error(`a pair of ${f0} × ${f1} latents has ${total} edges; rankings index at most 2^31 − 1`);
  return total;
}

/** Streams scored edges and keeps the best `keep` positive ones (score descending, edge index ascending). */
export class TopEdgeSelector {
  private edge: Float64Array;
  private score: Float32Array;
  private n = 0;
  /** The keep-th best after the last compaction: later edges must beat it. */
  private cutScore = 0;
  private cutEdge = Infinity;
  /** Positive scores seen (the pair's P). */
  positive = 0;

  constructor(
    readonly keep: number,
    private readonly budget?: MemoryBudget,
  ) {
    const capacity = Math.max(1024, 2 * keep);
    budget?.reserve('edge selection', capacity * 12);
    this.edge = new Float64Array(capacity);
    this.score = new Float32Array(capacity);
  }

  /** One edge; the score is rounded to float32 first, as the dense scores are stored. */
  add(e: number, s: number): void {
    const f = Math.fround(s);
    if (!(f > 0)) return;
    this.positive++;
    if (f < this.cutScore || (f === this.cutScore && e > this.cutEdge)) return;
    if (this.n === this.edge.length) this.compact();
    this.edge[this.n] = e;
    this.score[this.n++] = f;
  }

  /** A block: scores[r·cols.length + c] of edge (rows[r], cols[c]), e = i·F₁ + j. */
  addBlock(rows: ArrayLike<number>, cols: ArrayLike<number>, scores: ArrayLike<number>, f1: number): void {
    const C = cols.length;
    for (let r = 0; r < rows.length; r++) {
      const base = rows[r] * f1;
      for (let c = 0; c < C; c++) this.add(base + cols[c], scores[r * C + c]);
    }
  }

  /** Keeps the best `keep` of the buffer and raises the cut to the keep-th. */
  private compact(): void {
    const n = this.n;
    if (n <= this.keep) return;
    const sorted = this.score.slice(0, n).sort();
    const t = sorted[n - this.keep];
    const ties: number[] = [];
    let w = 0;
    for (let q = 0; q < n; q++) {
      if (this.score[q] > t) {
        this.edge[w] = this.edge[q];
        this.score[w++] = this.score[q];
      } else if (this.score[q] === t) ties.push(this.edge[q]);
    }
    ties.sort((a, b) => a - b);
    const take = ties.slice(0, this.keep - w);
    for (const e of take) {
      this.edge[w] = e;
      this.score[w++] = t;
    }
    this.n = w;
    this.cutScore = t;
    this.cutEdge = take.length ? take[take.length - 1] : -1;
  }

  /** The kept edges in ranking order. */
  finish(): { edges: Int32Array; scores: Float32Array } {
    this.compact();
    const order = Int32Array.from({ length: Math.min(this.n, this.keep) }, (_, q) => q);
    const { edge, score } = this;
    order.sort((a, b) => score[b] - score[a] || edge[a] - edge[b]);
    const out = { edges: new Int32Array(order.length), scores: new Float32Array(order.length) };
    order.forEach((q, r) => {
      out.edges[r] = edge[q];
      out.scores[r] = score[q];
    });
    this.budget?.release('edge selection');
    return out;
  }
}

/**
 * Ranks `from` … K−1 of rankByScore when they fall in the zero-score tail: the first `count` entries of its
 * seeded shuffle of the zero-score edges (all edges but the `positiveSorted` ones, in index order).
 */
export function zeroScoreTail(
  positiveSorted: Int32Array,
  total: number,
  count: number,
  seed: number,
  budget?: MemoryBudget,
): Int32Array {
  const Z = total - positiveSorted.length;
  budget?.reserve('zero-score order', Z * 4);
  try {
    const zero = new Int32Array(Z);
    for (let e = 0, p = 0, z = 0; e < total; e++) {
      if (p < positiveSorted.length && positiveSorted[p] === e) p++;
      else zero[z++] = e;
    }
    Rng.derive(seed, 'zero-score-order').shuffle(zero);
    return zero.slice(0, count);
  } finally {
    budget?.release('zero-score order');
  }
}

/** The first K ranks of an attribution ranking from the selector's best edges (+ the zero-score tail). */
export function rankedFromSelection(
  best: { edges: Int32Array; scores: Float32Array },
  positive: number,
  total: number,
  K: number,
  seed: number,
  budget?: MemoryBudget,
): RankedEdges {
  if (best.edges.length >= K || positive >= K)
    return { ranking: best.edges.slice(0, K), scores: best.scores.slice(0, K), positive, total };
  // Every positive edge is in `best` (fewer than K exist): the rest of the prefix is the zero-score order.
  const tail = zeroScoreTail(best.edges.slice().sort(), total, K - best.edges.length, seed, budget);
  const ranking = new Int32Array(K);
  ranking.set(best.edges);
  ranking.set(tail, best.edges.length);
  const scores = new Float32Array(K);
  scores.set(best.scores);
  return { ranking, scores, positive, total };
}

/** The first K ranks of the seeded random ranking (the baseline curve). */
export function randomRankedEdges(
  total: number,
  K: number,
  seed: number,
  budget?: MemoryBudget,
): RankedEdges {
  budget?.reserve('random ranking', total * 4);
  try {
    return { ranking: randomRanking(total, seed).slice(0, K), scores: null, positive: total, total };
  } finally {
    budget?.release('random ranking');
  }
}

/**
 * Kept edges by upstream latent (CSR over the ranked prefix): for upstream i, `js[start[i] … start[i+1])` are
 * the downstream latents of its edges in rank order and `ranks` their ranks; `firstRank[j]` is the rank of j's
 * first edge (2³¹ − 1 when it has none in the prefix), so j is in the subcircuit of budget N iff firstRank[j] < N.
 */
export class KeptIndex {
  readonly firstRank: Int32Array;
  readonly start: Int32Array;
  readonly js: Int32Array;
  readonly ranks: Int32Array;
  readonly length: number;

  constructor(ranking: Int32Array, f0: number, f1: number) {
    const K = (this.length = ranking.length);
    this.firstRank = new Int32Array(f1).fill(2 ** 31 - 1);
    this.start = new Int32Array(f0 + 1);
    for (let r = 0; r < K; r++) this.start[Math.floor(ranking[r] / f1) + 1]++;
    for (let i = 0; i < f0; i++) this.start[i + 1] += this.start[i];
    const fill = this.start.slice(0, f0);
    this.js = new Int32Array(K);
    this.ranks = new Int32Array(K);
    for (let r = 0; r < K; r++) {
      const e = ranking[r];
      const j = e % f1;
      const i = (e - j) / f1;
      const at = fill[i]++;
      this.js[at] = j;
      this.ranks[at] = r;
      if (this.firstRank[j] > r) this.firstRank[j] = r;
    }
  }

  static bytes(K: number, f0: number, f1: number): number {
    return 8 * K + 4 * (f0 + 1) + 4 * f1 + 4 * f0;
  }
}
