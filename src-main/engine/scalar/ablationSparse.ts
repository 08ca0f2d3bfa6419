/**
 * Progressive ablation (SPEC §4.3) for one chunk of evaluation sequences, from the ranked prefix's KeptIndex
 * instead of a membership array per downstream latent. Same units, keys, reuse and batches as
 * SubcircuitEvaluator (ablation.ts, the tested fast path), so the same R and logits; what changes is how the
 * keys are found: per owner (a token, or a sequence for a tblock pair) only the kept edges of its *active*
 * upstream latents are walked (their out-edges by rank, stopping at the budget), so a budget costs
 * Σ_owners Σ_active-latents (kept out-degree) instead of (kept downstream latents) × owners × k₀, and nothing
 * of size F₀ × F₁ exists. With L_o the owner's active latents (token: its code slots; sequence: its distinct
 * latents, sorted), bit b of key(o, j) says that L_o[b] is kept for j:
 *
 *   j has no kept edge (firstRank[j] ≥ N)     → R = 0
 *   key = all of L_o   (also when L_o = ∅)    → the full circuit's value (computed once)
 *   key = none                                → the empty input's value (segment of b_dec₀, computed once)
 *   key as at the previous budget             → the previous value
 *   otherwise                                 → a unit (owner, key) evaluated now, shared by every j with that key
 *
 * Memory per chunk of n tokens: R, the previous R and the full circuit's pre₁ (3·n·F₁ float32) and two key
 * arrays (owners·F₁·W uint32, W = ⌈max |L_o| / 32⌉) — declared to the MemoryBudget by the caller's sizing.
 */
import * as tf from '@tensorflow/tfjs';
import { BATCH_TOKENS, evaluateUnits, type UnitSource } from './ablation.ts';
import { hostEncode, hostThresholdCodes } from './hostCodes.ts';
import { encode } from '../sae/topk.ts';
import type { CleanPass, PairModel } from './pair.ts';
import type { PairPool } from './pairPool.ts';
import type { SubcircuitOptions } from './plain.ts';
import type { KeptIndex } from './sparseRanking.ts';

interface Unit {
  owner: number;
  js: number[];
  key: Uint32Array;
}

/** Host bytes a chunk holds per token beyond its tensors: R, previous R, full pre₁, and the keys. */
export function chunkBytesPerToken(f1: number, words: number, span: number): number {
  return 12 * f1 + (8 * f1 * words) / span;
}

export class ChunkSubcircuit {
  readonly N: number;
  private readonly owners: number;
  private readonly span: number;
  /** Per owner, its active latents by bit (L_o); per code slot, its bit in its owner's key (−1: inactive). */
  private readonly latents: Int32Array[];
  private readonly slotBit: Int32Array;
  /** Words per key. */
  readonly W: number;
  private preFull: Float32Array = new Float32Array(0);
  private preEmpty: Float32Array = new Float32Array(0);
  private prevR: Float32Array | null = null;
  private prevKeys: Uint32Array | null = null;
  lastUnits = 0;

  private constructor(
    private readonly pm: PairModel,
    private readonly clean: CleanPass,
    private readonly kept: KeptIndex,
    private readonly src: UnitSource,
    private readonly val0: Float32Array,
  ) {
    const [B, T] = clean.tokens.shape;
    this.N = B * T;
    this.span = src.perSequence ? T : 1;
    this.owners = src.perSequence ? B : this.N;
    const { idx0, k0 } = src;
    this.slotBit = new Int32Array(idx0.length).fill(-1);
    this.latents = Array.from({ length: this.owners }, (_, o) => {
      if (!src.perSequence) {
        const l = new Int32Array(k0).fill(-1);
        for (let q = 0; q < k0; q++)
          if (val0[o * k0 + q] > 0) {
            l[q] = idx0[o * k0 + q];
            this.slotBit[o * k0 + q] = q;
          }
        return l;
      }
      const set = new Set<number>();
      for (let q = o * T * k0; q < (o + 1) * T * k0; q++) if (val0[q] > 0) set.add(idx0[q]);
      const l = Int32Array.from([...set].sort((a, c) => a - c));
      const bit = new Map(Array.from(l, (i, b) => [i, b]));
      for (let q = o * T * k0; q < (o + 1) * T * k0; q++)
        if (val0[q] > 0) this.slotBit[q] = bit.get(idx0[q])!;
      return l;
    });
    this.W = Math.max(1, Math.ceil(Math.max(0, ...this.latents.map((l) => l.length)) / 32));
  }

  /** The chunk's upstream codes, full-circuit and empty-input pre₁; `batchTokens` per segment pass. */
  static async create(
    pm: PairModel,
    clean: CleanPass,
    pool: PairPool,
    kept: KeptIndex,
    batchTokens = BATCH_TOKENS,
  ): Promise<ChunkSubcircuit> {
    const [B, T] = clean.tokens.shape;
    const up = clean.up.reshape([B * T, pm.D]) as tf.Tensor2D;
    // A ReLU / JumpReLU SAE₀'s codes come cut to the largest active count without sorting all F₀.
    const codes = await hostEncode(up, pm.up.w, pm.up.k, (x) => encode(x, pm.up.w, pm.up.k));
    up.dispose();
    const perSequence = pm.pair.segment === 'block';
    const src: UnitSource = {
      pm,
      pool,
      idx0: codes.idx,
      k0: codes.width,
      T,
      perSequence,
      batchTokens,
    };
    const ev = new ChunkSubcircuit(pm, clean, kept, src, codes.val);
    const { k0 } = src;
    const owners = Array.from({ length: ev.owners }, (_, o) => ({ owner: o }));
    const full = await evaluateUnits(src, owners, (n) => codes.val.subarray(n * k0, (n + 1) * k0));
    ev.preFull = new Float32Array(ev.N * pm.f1);
    full.forEach((f, o) => ev.preFull.set(f, o * ev.span * pm.f1));
    // The empty input b_dec₀ at every position, evaluated as the first owner with every value 0 (as ablation.ts).
    ev.preEmpty = (await evaluateUnits(src, [{ owner: 0 }], () => new Float32Array(k0)))[0];
    return ev;
  }

  /** Logits of the subcircuit keeping the top-`n` edges (n ≤ the KeptIndex's length). Call with increasing n. */
  async logits(n: number, opts: SubcircuitOptions): Promise<tf.Tensor3D> {
    if (this.counted)
      throw new Error('ChunkSubcircuit: logits() after countUnits() (its previous values are gone)');
    const { pm, span, N } = this;
    const f1 = pm.f1;
    const R = new Float32Array(N * f1);
    const { units, keys } = this.walk(n, R);
    this.lastUnits = units.length;
    const { k0 } = this.src;
    const pre = await evaluateUnits(this.src, units, (tok, u) => {
      const key = units[u].key;
      const v = new Float32Array(k0);
      for (let q = 0; q < k0; q++) {
        const b = this.slotBit[tok * k0 + q];
        if (b >= 0 && (key[b >>> 5] >>> (b & 31)) & 1) v[q] = this.val0[tok * k0 + q];
      }
      return v;
    });
    units.forEach((u, c) => {
      u.js.forEach((j, q) => {
        for (let p = 0; p < span; p++) R[(u.owner * span + p) * f1 + j] = pre[c][p * u.js.length + q];
      });
    });
    this.prevR = R;
    this.prevKeys = keys;
    return this.logitsOf(R, opts);
  }

  /**
   * The units budget `n` would evaluate, without evaluating them (benchmarks extrapolate from it). Advances the
   * reuse state as logits() does, but no value is computed: logits() cannot follow.
   */
  countUnits(n: number): number {
    const { units, keys } = this.walk(n, null);
    this.counted = true;
    this.prevKeys = keys;
    return (this.lastUnits = units.length);
  }

  private counted = false;

  /**
   * Benchmarks: evaluates the first `count` units budget `n` would evaluate (in their batch order) and returns
   * how long that took — the per-unit cost at that budget's batch composition. Changes no state.
   */
  async sampleUnits(n: number, count: number): Promise<{ units: number; seconds: number }> {
    const { units } = this.walk(n, null);
    const sample = units.slice(0, count);
    const { k0 } = this.src;
    const t0 = performance.now();
    await evaluateUnits(this.src, sample, (tok, u) => {
      const key = sample[u].key;
      const v = new Float32Array(k0);
      for (let q = 0; q < k0; q++) {
        const b = this.slotBit[tok * k0 + q];
        if (b >= 0 && (key[b >>> 5] >>> (b & 31)) & 1) v[q] = this.val0[tok * k0 + q];
      }
      return v;
    });
    return { units: sample.length, seconds: (performance.now() - t0) / 1000 };
  }

  /**
   * The keys of budget n: R (when given) filled from the full circuit, the empty input and the previous budget,
   * and the units still to evaluate, sorted by (first latent, owner) as ablation.ts sorts them.
   */
  private walk(n: number, R: Float32Array | null): { units: Unit[]; keys: Uint32Array } {
    const { pm, kept, owners, span, W } = this;
    const f1 = pm.f1;
    if (n > kept.length) throw new Error(`budget ${n} is beyond the ${kept.length} ranked edges kept`);
    const keys = new Uint32Array(owners * f1 * W);
    // Every row starts as the empty input's value on the kept latents (0 elsewhere).
    const base = new Float32Array(span * f1);
    const isKept = (j: number) => kept.firstRank[j] < n;
    for (let j = 0; j < f1; j++)
      if (isKept(j)) for (let p = 0; p < span; p++) base[p * f1 + j] = this.preEmpty[p * f1 + j];
    const stamp = new Int32Array(f1).fill(-1);
    const units: Unit[] = [];
    for (let o = 0; o < owners; o++) {
      const L = this.latents[o];
      const touched: number[] = [];
      for (let b = 0; b < L.length; b++) {
        const i = L[b];
        if (i < 0) continue;
        for (let e = kept.start[i]; e < kept.start[i + 1] && kept.ranks[e] < n; e++) {
          const j = kept.js[e];
          if (stamp[j] !== o) {
            stamp[j] = o;
            touched.push(j);
          }
          keys[(o * f1 + j) * W + (b >>> 5)] |= 1 << (b & 31);
        }
      }
      if (L.every((i) => i < 0)) {
        // No active latent: every kept latent's key equals the (empty) full key → the full circuit's value.
        if (R) for (let j = 0; j < f1; j++) if (isKept(j)) this.copy(R, o, j, this.preFull, o);
        continue;
      }
      if (R) for (let p = 0; p < span; p++) R.set(base.subarray(p * f1, (p + 1) * f1), (o * span + p) * f1);
      const mine = new Map<string, Unit>();
      for (const j of touched) {
        const at = (o * f1 + j) * W;
        const key = keys.subarray(at, at + W);
        if (this.isFull(key, L)) {
          if (R) this.copy(R, o, j, this.preFull, o);
        } else if (this.prevKeys && sameWords(this.prevKeys, at, key)) {
          if (R) this.copy(R, o, j, this.prevR!, o);
        } else {
          const id = key.join(',');
          const u = mine.get(id);
          if (u) u.js.push(j);
          else mine.set(id, { owner: o, js: [j], key });
        }
      }
      for (const u of mine.values()) {
        // As ablation.ts: a unit's latents in the order they entered the ranking.
        u.js.sort((a, c) => kept.firstRank[a] - kept.firstRank[c]);
        units.push(u);
      }
    }
    units.sort((a, b) => a.js[0] - b.js[0] || a.owner - b.owner);
    return { units, keys };
  }

  /** SAE₁'s activation of R and the rest of the model: TopK as the dense path, a threshold SAE on the host. */
  private async logitsOf(R: Float32Array, opts: SubcircuitOptions): Promise<tf.Tensor3D> {
    const { pm, clean, N } = this;
    const theta = pm.down.w.threshold;
    if (!theta) return pm.logitsFromPre(R, clean, opts.relu);
    const codes = hostThresholdCodes(R, (await theta.data()) as Float32Array, N, pm.f1);
    return pm.logitsFromCodes(codes, clean);
  }

  /** The full circuit's logits from the chunk's full pre₁ (SAE₁'s own encode: relu = true). */
  fullCircuitLogits(): Promise<tf.Tensor3D> {
    return this.logitsOf(this.preFull, { relu: true });
  }

  private isFull(key: Uint32Array, L: Int32Array): boolean {
    for (let b = 0; b < L.length; b++) {
      const has = ((key[b >>> 5] >>> (b & 31)) & 1) === 1;
      if (has !== L[b] >= 0) return false;
    }
    return true;
  }

  /** R[owner's tokens, j] ← src's rows of srcOwner. */
  private copy(R: Float32Array, owner: number, j: number, src: Float32Array, srcOwner: number): void {
    const f1 = this.pm.f1;
    for (let p = 0; p < this.span; p++)
      R[(owner * this.span + p) * f1 + j] = src[(srcOwner * this.span + p) * f1 + j];
  }
}

function sameWords(a: Uint32Array, at: number, key: Uint32Array): boolean {
  for (let w = 0; w < key.length; w++) if (a[at + w] !== key[w]) return false;
  return true;
}
