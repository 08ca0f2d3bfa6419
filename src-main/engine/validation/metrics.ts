/**
 * How well a ranking (a permutation of the edges, best first) recovers a planted edge set (issue 15).
 * Plain functions over arrays; the tests work them out by hand on small cases.
 */

/** Hits among the top `n` edges of `ranking`. */
function hits(ranking: Int32Array, truth: Uint8Array, n: number): number {
  let h = 0;
  for (let r = 0; r < Math.min(n, ranking.length); r++) h += truth[ranking[r]];
  return h;
}

/** Fraction of the top `n` edges that are true edges. */
export function precisionAt(ranking: Int32Array, truth: Uint8Array, n: number): number {
  return n > 0 ? hits(ranking, truth, n) / Math.min(n, ranking.length) : NaN;
}

/** Fraction of the true edges found among the top `n`. */
export function recallAt(ranking: Int32Array, truth: Uint8Array, n: number): number {
  const total = truth.reduce((a, b) => a + b, 0);
  return total > 0 ? hits(ranking, truth, n) / total : NaN;
}

/**
 * Area under the ROC curve of the ranking as a classifier of true edges: the probability that a random true
 * edge is ranked above a random false one (a permutation has no ties). NaN when either class is empty.
 */
export function auroc(ranking: Int32Array, truth: Uint8Array): number {
  let positives = 0;
  let negatives = 0;
  for (const e of ranking) {
    if (truth[e]) positives++;
    else negatives++;
  }
  if (!positives || !negatives) return NaN;
  // Walking from the top, each true edge beats every false edge not yet seen.
  let wins = 0;
  let falseSeen = 0;
  for (const e of ranking) {
    if (truth[e]) wins += negatives - falseSeen;
    else falseSeen++;
  }
  return wins / (positives * negatives);
}

/** 1-based ranks with ties given their average rank. */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  const ranks = new Float64Array(values.length);
  for (let s = 0; s < order.length;) {
    let e = s;
    while (e + 1 < order.length && values[order[e + 1]] === values[order[s]]) e++;
    for (let q = s; q <= e; q++) ranks[order[q]] = (s + e) / 2 + 1;
    s = e + 1;
  }
  return ranks;
}

/** Spearman's ρ: Pearson correlation of average ranks. NaN when either side is constant or n < 2. */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n !== y.length) throw new Error(`spearman needs equal lengths (got ${n} and ${y.length})`);
  if (n < 2) return NaN;
  const rx = averageRanks(x);
  const ry = averageRanks(y);
  const mean = (n + 1) / 2;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (rx[i] - mean) * (ry[i] - mean);
    sxx += (rx[i] - mean) ** 2;
    syy += (ry[i] - mean) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}

/**
 * Spearman between a ranking's order and the true strength over the true edges: x = −(position in the
 * ranking), y = strength, so ρ = 1 when the ranking orders the true edges by strength.
 */
export function rankStrengthSpearman(
  ranking: Int32Array,
  truth: Uint8Array,
  strength: ArrayLike<number>,
): number {
  const x: number[] = [];
  const y: number[] = [];
  ranking.forEach((e, r) => {
    if (truth[e]) {
      x.push(-r);
      y.push(strength[e]);
    }
  });
  return spearman(x, y);
}
