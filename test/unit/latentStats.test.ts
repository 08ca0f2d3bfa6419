/**
 * Streamed latent statistics (engine/analysis/latentStats.ts, codeSpill.ts) against hand-worked values and a
 * float64 brute force over every token: counts, means, maxima, log-spaced histogram counts (bins found by
 * comparing with the edges, not by logarithms), top contexts (a full sort), quantile samples (exact buckets
 * while the reservoir holds every activation), and the context windows read back from the spilled codes
 * (compared with a dense activation matrix).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CodeSpill } from '../../src-main/engine/analysis/codeSpill.ts';
import {
  contextRequests,
  contextWindows,
  histogramEdges,
  LatentAccumulator,
  type LatentStatsOptions,
} from '../../src-main/engine/analysis/latentStats.ts';
import { TestRng } from './lm.helpers.ts';

const HIST = { minLog10: -3, maxLog10: 3, binsPerDecade: 5 };
const opts = (o: Partial<LatentStatsOptions> = {}): LatentStatsOptions => ({
  topContexts: 3,
  quantileBuckets: 2,
  samplesPerBucket: 1,
  reservoir: 64,
  histogram: HIST,
  seed: 1,
  ...o,
});

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-latents-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Plain second algorithm: bin b with edges[b] ≤ v < edges[b+1], edges written out as 10^(−3 + i/5). */
function binByEdges(v: number): number {
  const edges = [0];
  for (let i = 0; i <= 30; i++) edges.push(Math.pow(10, -3 + i / 5));
  edges.push(Infinity);
  for (let b = 0; b < edges.length - 1; b++) if (v >= edges[b] && v < edges[b + 1]) return b;
  throw new Error('no bin');
}

describe('histogram bins', () => {
  it('has 32 bins: underflow, 30 log-spaced (5 per decade from 1e-3 to 1e3), overflow', () => {
    const e = histogramEdges(HIST);
    expect(e.length).toBe(33);
    expect(e[0]).toBe(0);
    expect(e[1]).toBeCloseTo(1e-3, 15);
    expect(e[16]).toBeCloseTo(1, 15);
    expect(e[31]).toBeCloseTo(1e3, 9);
    expect(e[32]).toBe(Infinity);
  });
});

describe('LatentAccumulator on hand-built codes', () => {
  // F = 3 latents, k = 2 codes per token, 5 tokens; zeros are inactive slots.
  //            token: 0            1            2            3            4
  const idx = [0, 1, /**/ 0, 2, /**/ 1, 0, /**/ 2, 1, /**/ 0, 1];
  const val = [2, 0.5, /**/ 4, 0, /**/ 1, 4, /**/ 0.0005, 0, /**/ 1500, 0.5];
  const acc = new LatentAccumulator(3, opts({ topContexts: 2 }));
  acc.add(idx, val, 2, 0);

  it('counts, means and maxima worked by hand', () => {
    const r = [0, 1, 2].map((f) => acc.result(f));
    expect(acc.tokens).toBe(5);
    // latent 0: 2 (t0), 4 (t1), 4 (t2), 1500 (t4)
    expect(r[0].count).toBe(4);
    expect(r[0].mean).toBeCloseTo((2 + 4 + 4 + 1500) / 4, 12);
    expect(r[0].max).toBe(1500);
    // latent 1: 0.5 (t0), 1 (t2), 0.5 (t4); the 0 at t3 is inactive
    expect(r[1].count).toBe(3);
    expect(r[1].mean).toBeCloseTo(2 / 3, 12);
    expect(r[1].max).toBe(1);
    // latent 2: 0.0005 (t3) only; the 0 at t1 is inactive
    expect(r[2].count).toBe(1);
    expect(r[2].max).toBeCloseTo(0.0005, 9);
  });

  it('top contexts: strongest first, the earlier token wins a tie', () => {
    // latent 0: 1500 @ t4, then 4 @ t1 and 4 @ t2 tie → t1 kept
    expect(acc.result(0).top).toEqual([
      { token: 4, act: 1500 },
      { token: 1, act: 4 },
    ]);
    expect(acc.result(1).top).toEqual([
      { token: 2, act: 1 },
      { token: 0, act: 0.5 },
    ]);
  });

  it('histogram: 0.0005 underflows, 1500 overflows, 0.5 / 1 / 2 / 4 in their fifth-of-a-decade bins', () => {
    const h0 = acc.result(0).hist;
    // 2 = 10^0.301 → bin 1 + floor(3.301·5) = 17; 4 = 10^0.602 → bin 1 + floor(18.01) = 19; 1500 → 31
    expect([...h0.entries()].filter(([, c]) => c > 0)).toEqual([
      [17, 1],
      [19, 2],
      [31, 1],
    ]);
    const h1 = acc.result(1).hist;
    // 0.5 = 10^−0.301 → 1 + floor(13.49) = 14; 1 → 16
    expect([...h1.entries()].filter(([, c]) => c > 0)).toEqual([
      [14, 2],
      [16, 1],
    ]);
    expect([...acc.result(2).hist.entries()].filter(([, c]) => c > 0)).toEqual([[0, 1]]);
    for (const v of [2, 4, 1500, 0.5, 1, 0.0005])
      expect(binByEdges(Math.fround(v))).toBeGreaterThanOrEqual(0);
  });
});

/** Random sparse codes: latent f fires with probability p_f (some rare, some common), values log-normal. */
function randomCodes(rng: TestRng, N: number, F: number, k: number) {
  const p = Array.from({ length: F }, (_, f) =>
    f % 4 === 0 ? 0.02 : f % 4 === 1 ? 0.3 : f % 4 === 2 ? 0 : 0.08,
  );
  const idx = new Int32Array(N * k);
  const val = new Float32Array(N * k);
  for (let t = 0; t < N; t++) {
    const active = [];
    for (let f = 0; f < F; f++) if (rng.uniform() < p[f]) active.push(f);
    active.sort(() => rng.uniform() - 0.5);
    for (let s = 0; s < k; s++) {
      if (s < active.length) {
        idx[t * k + s] = active[s];
        // A few exact ties so the tie rule is exercised.
        val[t * k + s] = rng.uniform() < 0.05 ? 1.5 : Math.exp(rng.normal() * 1.5);
      } else {
        idx[t * k + s] = (t + s) % F; // an inactive slot (value 0)
        val[t * k + s] = 0;
      }
    }
  }
  return { idx, val };
}

describe('LatentAccumulator against a float64 brute force over all tokens', () => {
  const F = 12;
  const k = 3;
  const T = 25;
  const S = 40;
  const N = S * T;
  const rng = new TestRng(5);
  const { idx, val } = randomCodes(rng, N, F, k);
  const o = opts({ topContexts: 20, quantileBuckets: 4, samplesPerBucket: 2, reservoir: 32 });
  const acc = new LatentAccumulator(F, o);
  const spill = new CodeSpill(path.join(tmp, 'codes.bin'), k);
  // Streamed in uneven batches (whole sequences, as the job does).
  for (let s0 = 0; s0 < S;) {
    const n = Math.min(S - s0, 1 + (s0 % 7));
    acc.add(
      idx.subarray(s0 * T * k, (s0 + n) * T * k),
      val.subarray(s0 * T * k, (s0 + n) * T * k),
      k,
      s0 * T,
    );
    spill.append(idx.subarray(s0 * T * k, (s0 + n) * T * k), val.subarray(s0 * T * k, (s0 + n) * T * k));
    s0 += n;
  }
  // Dense activations [N, F] (float64 of the float32 values).
  const dense = new Float64Array(N * F);
  for (let t = 0; t < N; t++)
    for (let s = 0; s < k; s++) if (val[t * k + s] > 0) dense[t * F + idx[t * k + s]] = val[t * k + s];
  const activeOf = (f: number) =>
    Array.from({ length: N }, (_, t) => ({ token: t, act: dense[t * F + f] })).filter((x) => x.act > 0);

  it('count, mean, max and histogram of every latent', () => {
    for (let f = 0; f < F; f++) {
      const a = activeOf(f);
      const r = acc.result(f);
      expect(r.count).toBe(a.length);
      if (a.length === 0) {
        expect(r.mean).toBeNull();
        expect(r.max).toBe(0);
      } else {
        expect(r.mean).toBeCloseTo(a.reduce((s, x) => s + x.act, 0) / a.length, 10);
        expect(r.max).toBe(Math.max(...a.map((x) => x.act)));
      }
      const hist = new Array(32).fill(0);
      for (const x of a) hist[binByEdges(x.act)]++;
      expect(Array.from(r.hist)).toEqual(hist);
    }
  });

  it('top 20 contexts equal a full sort (activation descending, earlier token first)', () => {
    for (let f = 0; f < F; f++) {
      const sorted = activeOf(f).sort((x, y) => y.act - x.act || x.token - y.token);
      expect(acc.result(f).top).toEqual(sorted.slice(0, 20));
    }
  });

  it('quantile samples lie in their bucket of the sorted activations and are not top contexts', () => {
    let exactChecked = 0;
    for (let f = 0; f < F; f++) {
      const a = activeOf(f);
      const r = acc.result(f);
      const top = new Set(r.top.map((c) => c.token));
      const sorted = [...a].sort((x, y) => x.act - y.act || x.token - y.token);
      for (const q of r.quantiles) {
        for (const c of q.samples) {
          expect(top.has(c.token)).toBe(false);
          // A real activation of this latent at that token.
          expect(dense[c.token * F + f]).toBe(c.act);
          expect(c.act).toBeGreaterThanOrEqual(q.lo);
          expect(c.act).toBeLessThanOrEqual(q.hi);
        }
        if (a.length <= 32) {
          // The reservoir holds every activation: buckets are exact quantile ranges.
          const lo = Math.floor((q.bucket * a.length) / 4);
          const hi = Math.floor(((q.bucket + 1) * a.length) / 4);
          expect(q.lo).toBe(sorted[lo].act);
          expect(q.hi).toBe(sorted[hi - 1].act);
          exactChecked++;
        }
      }
      if (a.length > 20) expect(r.quantiles.flatMap((q) => q.samples).length).toBeGreaterThan(0);
    }
    expect(exactChecked).toBeGreaterThan(0);
  });

  it('context windows read back from the spilled codes equal the dense activations', () => {
    const before = 4;
    const after = 2;
    const tokens = Int32Array.from({ length: N }, (_, t) => (t * 7) % 128);
    const requests = Array.from({ length: F }, (_, f) => contextRequests(acc.result(f))).flat();
    const windows = [
      ...contextWindows(requests, (seq) => spill.read(seq * T, T), tokens, T, k, before, after),
    ];
    expect(windows.length).toBe(requests.length);
    for (const w of windows) {
      const seq = Math.floor(w.token / T);
      const pos = w.token % T;
      expect([w.seq, w.pos]).toEqual([seq, pos]);
      const start = Math.max(0, pos - before);
      const end = Math.min(T - 1, pos + after);
      expect(w.start).toBe(start);
      expect(Array.from(w.ids)).toEqual(Array.from(tokens.subarray(seq * T + start, seq * T + end + 1)));
      const expected = [];
      for (let t = start; t <= end; t++) expected.push(dense[(seq * T + t) * F + w.latent]);
      expect(Array.from(w.acts)).toEqual(expected);
      expect(w.acts[pos - start]).toBe(w.act);
    }
    spill.dispose();
    expect(fs.existsSync(path.join(tmp, 'codes.bin'))).toBe(false);
  });

  it('is reproducible: the same seed draws the same reservoir', () => {
    const again = new LatentAccumulator(F, o);
    again.add(idx, val, k, 0);
    for (let f = 0; f < F; f++) expect(again.result(f).quantiles).toEqual(acc.result(f).quantiles);
  });
});
