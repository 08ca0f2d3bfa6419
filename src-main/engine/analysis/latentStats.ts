/**
 * Per-latent statistics of one SAE over an evaluation set, streamed batch by batch from its sparse TopK codes
 * (`idx`/`val`, k per token) in bounded memory — O(F · (topContexts + reservoir + bins)), independent of the
 * number of tokens:
 *
 *   count, freq       tokens on which the latent is active (code value > 0), and that count / tokens
 *   mean, max         over the tokens where it is active (float64 sums)
 *   histogram         of its active values in log-spaced bins (SPEC §5 "activation density histogram"):
 *                     bin 0 = (0, 10^min), then binsPerDecade bins per decade, last bin = [10^max, ∞)
 *   top contexts      the `topContexts` tokens of largest activation (ties: the earlier token), kept in a
 *                     min-heap of (activation, token index) per latent
 *   quantile samples  a seeded uniform reservoir (Algorithm R) of (activation, token) per latent; after the
 *                     pass its sorted values split into `quantileBuckets` buckets and `samplesPerBucket`
 *                     tokens, evenly spaced in each bucket, are chosen (exact quantiles while the latent
 *                     fired at most `reservoir` times)
 *
 * The token windows around the chosen tokens (per-token activations of the latent) are read afterwards from
 * the codes spilled to disk (codeSpill.ts), so nothing per token is kept in memory here.
 */
import { Rng } from '../random.ts';

export interface HistogramSpec {
  minLog10: number;
  maxLog10: number;
  binsPerDecade: number;
}

export interface LatentStatsOptions {
  topContexts: number;
  quantileBuckets: number;
  samplesPerBucket: number;
  reservoir: number;
  histogram: HistogramSpec;
  /** Seed of the reservoir sampling (derive one per hook). */
  seed: number | string;
}

/** Bin edges: edges[0] = 0, edges[b] = 10^(min + (b−1)/perDecade) for b = 1..nb+1, last = ∞. */
export function histogramEdges(h: HistogramSpec): number[] {
  const inner = (h.maxLog10 - h.minLog10) * h.binsPerDecade;
  if (!(inner > 0)) throw new Error('histogram: maxLog10 must exceed minLog10');
  const edges = [0];
  for (let b = 0; b <= inner; b++) edges.push(10 ** (h.minLog10 + b / h.binsPerDecade));
  edges.push(Infinity);
  return edges;
}

/** The bin of a positive value: the b with edges[b] ≤ v < edges[b+1] (log10 guess, corrected on the edges). */
export function histogramBin(v: number, edges: number[], h: HistogramSpec): number {
  const last = edges.length - 2;
  let b = v < edges[1] ? 0 : 1 + Math.floor((Math.log10(v) - h.minLog10) * h.binsPerDecade);
  if (b > last) b = last;
  if (b < 0) b = 0;
  while (b > 0 && v < edges[b]) b--;
  while (b < last && v >= edges[b + 1]) b++;
  return b;
}

export interface ContextRef {
  /** Global token index (window · T + position). */
  token: number;
  act: number;
}

export interface LatentResult {
  latent: number;
  count: number;
  mean: number | null;
  max: number;
  /** Histogram counts (length = edges − 1). */
  hist: Int32Array;
  /** Top contexts, strongest first. */
  top: ContextRef[];
  /** Quantile buckets (lowest first): approximate activation range and the chosen samples. */
  quantiles: { bucket: number; lo: number; hi: number; samples: ContextRef[] }[];
}

export class LatentAccumulator {
  readonly edges: number[];
  tokens = 0;
  private readonly count: Float64Array;
  private readonly sum: Float64Array;
  private readonly max: Float32Array;
  private readonly hist: Int32Array;
  private readonly nBins: number;
  private readonly heapAct: Float32Array;
  private readonly heapTok: Int32Array;
  private readonly heapSize: Int32Array;
  private readonly resAct: Float32Array;
  private readonly resTok: Int32Array;
  private readonly rng: Rng;

  constructor(
    readonly width: number,
    readonly opts: LatentStatsOptions,
  ) {
    this.edges = histogramEdges(opts.histogram);
    this.nBins = this.edges.length - 1;
    this.count = new Float64Array(width);
    this.sum = new Float64Array(width);
    this.max = new Float32Array(width);
    this.hist = new Int32Array(width * this.nBins);
    this.heapAct = new Float32Array(width * opts.topContexts);
    this.heapTok = new Int32Array(width * opts.topContexts);
    this.heapSize = new Int32Array(width);
    this.resAct = new Float32Array(width * opts.reservoir);
    this.resTok = new Int32Array(width * opts.reservoir);
    this.rng = new Rng(typeof opts.seed === 'string' ? opts.seed : `latent-stats/${opts.seed}`);
  }

  /**
   * Codes of `n` consecutive tokens starting at global token index `firstToken`: idx/val [n, k] row-major.
   * Tokens must arrive in increasing order (ties in the top contexts then keep the earlier token).
   */
  add(idx: ArrayLike<number>, val: ArrayLike<number>, k: number, firstToken: number): void {
    const n = idx.length / k;
    const { topContexts: K, reservoir: R, histogram } = this.opts;
    for (let t = 0; t < n; t++) {
      const token = firstToken + t;
      for (let s = 0; s < k; s++) {
        const a = val[t * k + s];
        if (!(a > 0)) continue;
        const f = idx[t * k + s];
        const c = this.count[f];
        this.count[f] = c + 1;
        this.sum[f] += a;
        if (a > this.max[f]) this.max[f] = a;
        this.hist[f * this.nBins + histogramBin(a, this.edges, histogram)]++;
        this.pushTop(f, a, token, K);
        // Algorithm R: the first R activations fill the reservoir, then item c replaces a slot w.p. R/(c+1).
        if (c < R) {
          this.resAct[f * R + c] = a;
          this.resTok[f * R + c] = token;
        } else {
          const j = this.rng.int(c + 1);
          if (j < R) {
            this.resAct[f * R + j] = a;
            this.resTok[f * R + j] = token;
          }
        }
      }
    }
    this.tokens += n;
  }

  /** Min-heap per latent on (activation, then later token = worse): the root is the weakest kept context. */
  private pushTop(f: number, a: number, token: number, K: number): void {
    const base = f * K;
    const act = this.heapAct;
    const tok = this.heapTok;
    const worse = (x: number, y: number) =>
      act[base + x] < act[base + y] || (act[base + x] === act[base + y] && tok[base + x] > tok[base + y]);
    let size = this.heapSize[f];
    if (size < K) {
      let i = size++;
      this.heapSize[f] = size;
      act[base + i] = a;
      tok[base + i] = token;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!worse(i, p)) break;
        this.swap(base + i, base + p);
        i = p;
      }
      return;
    }
    // Tokens arrive in increasing order, so an equal activation never displaces the earlier token.
    if (!(a > act[base])) return;
    act[base] = a;
    tok[base] = token;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && worse(l, m)) m = l;
      if (r < size && worse(r, m)) m = r;
      if (m === i) break;
      this.swap(base + i, base + m);
      i = m;
    }
  }

  private swap(x: number, y: number): void {
    const a = this.heapAct[x];
    this.heapAct[x] = this.heapAct[y];
    this.heapAct[y] = a;
    const t = this.heapTok[x];
    this.heapTok[x] = this.heapTok[y];
    this.heapTok[y] = t;
  }

  /** The statistics of latent f (after the pass). */
  result(f: number): LatentResult {
    const { topContexts: K, reservoir: R, quantileBuckets: B, samplesPerBucket: S } = this.opts;
    const count = this.count[f];
    const top: ContextRef[] = [];
    for (let i = 0; i < this.heapSize[f]; i++)
      top.push({ token: this.heapTok[f * K + i], act: this.heapAct[f * K + i] });
    top.sort((x, y) => y.act - x.act || x.token - y.token);
    const quantiles: LatentResult['quantiles'] = [];
    const m = Math.min(count, R);
    if (B > 0 && S > 0 && m > 0) {
      const inTop = new Set(top.map((c) => c.token));
      const sample: ContextRef[] = [];
      for (let i = 0; i < m; i++) sample.push({ token: this.resTok[f * R + i], act: this.resAct[f * R + i] });
      sample.sort((x, y) => x.act - y.act || x.token - y.token);
      for (let b = 0; b < B; b++) {
        const lo = Math.floor((b * m) / B);
        const hi = Math.floor(((b + 1) * m) / B);
        if (hi <= lo) continue;
        const pool = sample.slice(lo, hi).filter((c) => !inTop.has(c.token));
        const samples: ContextRef[] = [];
        for (let s = 0; s < Math.min(S, pool.length); s++)
          samples.push(pool[Math.floor(((s + 0.5) * pool.length) / Math.min(S, pool.length))]);
        quantiles.push({ bucket: b, lo: sample[lo].act, hi: sample[hi - 1].act, samples });
      }
    }
    return {
      latent: f,
      count,
      mean: count > 0 ? this.sum[f] / count : null,
      max: this.max[f],
      hist: this.hist.slice(f * this.nBins, (f + 1) * this.nBins),
      top,
      quantiles,
    };
  }
}

/** A chosen context: latent, kind and index, and the token it is centred on. */
export interface ContextRequest {
  latent: number;
  kind: 'top' | 'quantile';
  /** Rank among the top contexts, or the sample's index within the latent's quantile samples. */
  index: number;
  bucket: number | null;
  token: number;
  act: number;
}

export interface ContextWindow extends ContextRequest {
  seq: number;
  pos: number;
  /** First token of the window (position within the sequence) and the window's length. */
  start: number;
  ids: Int32Array;
  acts: Float32Array;
}

/**
 * Reads the windows of the requested contexts from a pass over the spilled codes (sequence by sequence, in
 * order): for each request, the window [pos − before, pos + after] clipped to its sequence, with the token ids
 * and the latent's activation (0 where it is not among the token's k codes) at every token.
 */
export function* contextWindows(
  requests: ContextRequest[],
  codesOfSeq: (seq: number) => { idx: Int32Array; val: Float32Array },
  tokens: ArrayLike<number>,
  seqLen: number,
  k: number,
  before: number,
  after: number,
): Generator<ContextWindow> {
  const bySeq = new Map<number, ContextRequest[]>();
  for (const r of requests) {
    const s = Math.floor(r.token / seqLen);
    if (!bySeq.has(s)) bySeq.set(s, []);
    bySeq.get(s)!.push(r);
  }
  for (const seq of [...bySeq.keys()].sort((a, b) => a - b)) {
    const { idx, val } = codesOfSeq(seq);
    for (const r of bySeq.get(seq)!) {
      const pos = r.token - seq * seqLen;
      const start = Math.max(0, pos - before);
      const end = Math.min(seqLen - 1, pos + after);
      const ids = new Int32Array(end - start + 1);
      const acts = new Float32Array(end - start + 1);
      for (let t = start; t <= end; t++) {
        ids[t - start] = tokens[seq * seqLen + t];
        for (let s = 0; s < k; s++)
          if (idx[t * k + s] === r.latent && val[t * k + s] > 0) acts[t - start] = val[t * k + s];
      }
      yield { ...r, seq, pos, start, ids, acts };
    }
  }
}

/** The context requests of one latent's result: its top contexts, then its quantile samples. */
export function contextRequests(r: LatentResult): ContextRequest[] {
  const out: ContextRequest[] = r.top.map((c, index) => ({
    latent: r.latent,
    kind: 'top' as const,
    index,
    bucket: null,
    token: c.token,
    act: c.act,
  }));
  let index = 0;
  for (const q of r.quantiles)
    for (const c of q.samples)
      out.push({
        latent: r.latent,
        kind: 'quantile',
        index: index++,
        bucket: q.bucket,
        token: c.token,
        act: c.act,
      });
  return out;
}
