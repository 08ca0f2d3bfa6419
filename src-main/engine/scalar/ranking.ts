/**
 * Edge rankings (SPEC §4.2). Edge e = i·F₁ + j is (upstream latent i, downstream latent j). The attribution
 * ranking puts positive scores first, descending (equal scores by edge index), then zero scores in a seeded
 * random order; the `random` ranking is a seeded permutation of all edges (the baseline curve).
 */
import { Rng } from '../random.ts';

export function rankByScore(scores: Float32Array, seed: number): Int32Array {
  const positive: number[] = [];
  const zero: number[] = [];
  for (let e = 0; e < scores.length; e++) (scores[e] > 0 ? positive : zero).push(e);
  positive.sort((a, b) => scores[b] - scores[a] || a - b);
  Rng.derive(seed, 'zero-score-order').shuffle(zero);
  return Int32Array.from([...positive, ...zero]);
}

export function randomRanking(nEdges: number, seed: number): Int32Array {
  const order = Int32Array.from({ length: nEdges }, (_, e) => e);
  Rng.derive(seed, 'random-ranking').shuffle(order);
  return order;
}

/** Kept-edge sets U(j) of the top-N edges: for each downstream j, the sorted upstream latents kept. */
export function keptSets(ranking: Int32Array, n: number, f1: number): Map<number, number[]> {
  const sets = new Map<number, number[]>();
  for (let r = 0; r < n; r++) {
    const e = ranking[r];
    const j = e % f1;
    const i = (e - j) / f1;
    let u = sets.get(j);
    if (!u) sets.set(j, (u = []));
    u.push(i);
  }
  for (const u of sets.values()) u.sort((a, b) => a - b);
  return sets;
}

/** Downstream latents grouped by identical kept set U (the plain algorithm runs one segment pass per group). */
export function groupByKeptSet(sets: Map<number, number[]>): { upstream: number[]; downstream: number[] }[] {
  const groups = new Map<string, { upstream: number[]; downstream: number[] }>();
  for (const [j, u] of sets) {
    const key = u.join(',');
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { upstream: u, downstream: [] }));
    g.downstream.push(j);
  }
  return [...groups.values()];
}
