/**
 * Matching the latents of two SAEs at the same hook (for A/B views across architectures): similarity = cosine
 * of their decoder rows, one-to-one assignment maximising the summed similarity. With widths Fa ≠ Fb the
 * smaller side is matched completely and the rest of the larger side stays unmatched.
 *
 * - `hungarian`: the optimal assignment (shortest augmenting paths with potentials, O(n²·m)); used when the
 *   smaller width is at most `exactLimit` (default 1024: about a second in plain JS).
 * - `greedy`: a documented approximation for wider SAEs: every row's `candidates` most similar columns are
 *   sorted by similarity and taken greedily when both ends are still free; rows left over (all their candidates
 *   taken) repeat the step against the remaining free columns. It never stores the full similarity matrix. On
 *   permuted-and-noised decoders it recovers the permutation like the exact method; on unrelated random decoders
 *   its summed similarity is a few percent below the optimum (measured in test/unit/latentMatching.test.ts).
 */

export interface MatchResult {
  method: 'hungarian' | 'greedy';
  widthA: number;
  widthB: number;
  /** Matched latents: a[r] of SAE A with b[r] of SAE B at cosine cos[r], sorted by a. */
  a: Int32Array;
  b: Int32Array;
  cos: Float32Array;
  meanCos: number;
}

/** Rows scaled to unit length (zero rows stay zero). */
export function unitRows(w: Float32Array, F: number, D: number): Float32Array {
  const out = new Float32Array(F * D);
  for (let f = 0; f < F; f++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += w[f * D + d] * w[f * D + d];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let d = 0; d < D; d++) out[f * D + d] = w[f * D + d] * inv;
  }
  return out;
}

function dot(x: Float32Array, xo: number, y: Float32Array, yo: number, D: number): number {
  let s = 0;
  for (let d = 0; d < D; d++) s += x[xo + d] * y[yo + d];
  return s;
}

/**
 * Optimal assignment of n rows to m ≥ n columns minimising Σ cost[r, col[r]] (cost row-major [n, m]).
 * Returns col[r] for every row.
 */
export function hungarian(cost: Float64Array, n: number, m: number): Int32Array {
  if (n > m) throw new Error('hungarian: needs rows ≤ columns');
  const INF = Infinity;
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1); // p[j]: row (1-based) assigned to column j, 0 = none
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(INF);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0];
      let delta = INF;
      let j1 = 0;
      const rowOff = (i0 - 1) * m;
      const ui0 = u[i0];
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = cost[rowOff + j - 1] - ui0 - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 !== 0);
  }
  const col = new Int32Array(n).fill(-1);
  for (let j = 1; j <= m; j++) if (p[j] > 0) col[p[j] - 1] = j - 1;
  return col;
}

/** Greedy assignment of n rows to m ≥ n columns by similarity (see the file header). */
export function greedyAssign(
  sim: (r: number, c: number) => number,
  n: number,
  m: number,
  candidates = 8,
): Int32Array {
  const col = new Int32Array(n).fill(-1);
  const taken = new Uint8Array(m);
  let freeRows = Array.from({ length: n }, (_, r) => r);
  while (freeRows.length > 0) {
    const cand: { r: number; c: number; s: number }[] = [];
    for (const r of freeRows) {
      // The row's best `candidates` free columns (small insertion-sorted list).
      const best: { c: number; s: number }[] = [];
      for (let c = 0; c < m; c++) {
        if (taken[c]) continue;
        const s = sim(r, c);
        if (best.length < candidates || s > best[best.length - 1].s) {
          let at = best.length;
          while (at > 0 && best[at - 1].s < s) at--;
          best.splice(at, 0, { c, s });
          if (best.length > candidates) best.pop();
        }
      }
      for (const b of best) cand.push({ r, c: b.c, s: b.s });
    }
    if (cand.length === 0) break;
    cand.sort((x, y) => y.s - x.s || x.r - y.r || x.c - y.c);
    for (const { r, c } of cand) {
      if (col[r] >= 0 || taken[c]) continue;
      col[r] = c;
      taken[c] = 1;
    }
    freeRows = freeRows.filter((r) => col[r] < 0);
  }
  return col;
}

/**
 * Matches decoder rows decA [Fa, D] with decB [Fb, D] by cosine similarity (one-to-one, summed similarity
 * maximal or greedily large; see the file header).
 */
export function matchLatents(
  decA: Float32Array,
  Fa: number,
  decB: Float32Array,
  Fb: number,
  D: number,
  opts: { exactLimit?: number; method?: 'hungarian' | 'greedy'; candidates?: number } = {},
): MatchResult {
  const ua = unitRows(decA, Fa, D);
  const ub = unitRows(decB, Fb, D);
  // Rows = the narrower SAE.
  const swap = Fa > Fb;
  const [R, C, n, m] = swap ? [ub, ua, Fb, Fa] : [ua, ub, Fa, Fb];
  const method = opts.method ?? (n <= (opts.exactLimit ?? 1024) ? 'hungarian' : 'greedy');
  let col: Int32Array;
  if (method === 'hungarian') {
    const cost = new Float64Array(n * m);
    for (let r = 0; r < n; r++) for (let c = 0; c < m; c++) cost[r * m + c] = -dot(R, r * D, C, c * D, D);
    col = hungarian(cost, n, m);
  } else {
    col = greedyAssign((r, c) => dot(R, r * D, C, c * D, D), n, m, opts.candidates ?? 8);
  }
  const pairs: [number, number, number][] = [];
  for (let r = 0; r < n; r++) {
    if (col[r] < 0) continue;
    const s = dot(R, r * D, C, col[r] * D, D);
    pairs.push(swap ? [col[r], r, s] : [r, col[r], s]);
  }
  pairs.sort((x, y) => x[0] - y[0]);
  return {
    method,
    widthA: Fa,
    widthB: Fb,
    a: Int32Array.from(pairs, (p) => p[0]),
    b: Int32Array.from(pairs, (p) => p[1]),
    cos: Float32Array.from(pairs, (p) => p[2]),
    meanCos: pairs.length ? pairs.reduce((s, p) => s + p[2], 0) / pairs.length : 0,
  };
}
