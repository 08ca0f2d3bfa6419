/**
 * Progressive edge ablation (SPEC §4.3), fast path. The plain algorithm runs the segment once per distinct
 * kept set U and keeps column j of the result for the latents j with that set. But the value R[t, j] depends
 * only on which *active* upstream latents U keeps: per token for a position-local segment (U ∩ A(t), A(t) the
 * token's ≤ k active latents), per sequence for a transformer block (U ∩ A_b, attention mixes positions).
 * So each (token or sequence, restricted set) is one *unit*, evaluated once however many j share it:
 *   restricted set = everything active → the full circuit's value (computed once);
 *   restricted set = nothing           → the segment of b_dec₀ alone (computed once);
 *   same restricted set as at the previous budget → the previous value;
 *   otherwise                          → evaluated, batched, through the LM's own segment.
 * Results equal the plain algorithm's (tests compare them); only the batching differs.
 */
import * as tf from '@tensorflow/tfjs';
import { readAndDispose } from '../backend.ts';
import { compactCodes } from '../sae/topk.ts';
import { concatFloat32 } from '../threads.ts';
import type { SubcircuitOptions } from './plain.ts';
import type { CleanPass, PairModel } from './pair.ts';
import type { PairPool } from './pairPool.ts';
import type { PairTask } from './pairTasks.ts';
import { keptSets } from './ranking.ts';

/**
 * Tokens per evaluation batch (bounds memory: one unit of a tblock pair is a whole sequence). The full circuit
 * is evaluated in batches of the same size, so "every edge kept" reproduces it bit for bit.
 */
export const BATCH_TOKENS = 8192;

export class SubcircuitEvaluator {
  readonly N: number;
  private readonly B: number;
  private readonly T: number;
  private readonly k0: number;
  private readonly idx0: Int32Array;
  private readonly val0: Float32Array;
  /** pre₁ of the full circuit [N, F₁] and of the empty input b_dec₀ [T, F₁] (per position, see below). */
  private preFull: Float32Array = new Float32Array(0);
  private preEmpty: Float32Array = new Float32Array(0);
  /** tblock: each sequence's distinct active upstream latents. */
  private readonly seqLatents: Int32Array[];
  /** The previous budget's R and unit keys, for reuse. */
  private prevR: Float32Array | null = null;
  private prevKeys: (string | number)[] | null = null;
  /** Units evaluated at the last budget (for progress and benchmarks). */
  lastUnits = 0;

  private constructor(
    private readonly pm: PairModel,
    private readonly clean: CleanPass,
    private readonly pool: PairPool,
    codes: { idx: Int32Array; val: Float32Array },
  ) {
    const [B, T] = clean.tokens.shape;
    this.B = B;
    this.T = T;
    this.N = B * T;
    // Slots per token: k for TopK; for a ReLU / JumpReLU SAE₀ the padded width (zero-valued slots are inactive).
    this.k0 = codes.idx.length / this.N;
    this.idx0 = codes.idx;
    this.val0 = codes.val;
    this.seqLatents = Array.from({ length: B }, (_, b) => {
      const set = new Set<number>();
      for (let n = b * T; n < (b + 1) * T; n++)
        for (let q = 0; q < this.k0; q++)
          if (this.val0[n * this.k0 + q] > 0) set.add(this.idx0[n * this.k0 + q]);
      return Int32Array.from([...set].sort((a, c) => a - c));
    });
  }

  /** `pool` spreads the segment passes over both cores (PairPool.start); results do not depend on it. */
  static async create(pm: PairModel, clean: CleanPass, pool: PairPool): Promise<SubcircuitEvaluator> {
    const codes = pm.upCodes(clean);
    const [idx, val] = await Promise.all([readAndDispose(codes.idx), readAndDispose(codes.val)]);
    // A ReLU / JumpReLU SAE₀'s codes carry all F₀ slots: cut to the largest active count (the units' cost).
    const ev = new SubcircuitEvaluator(
      pm,
      clean,
      pool,
      pm.up.w.threshold
        ? compactCodes(idx as Int32Array, val as Float32Array, clean.tokens.size)
        : { idx: idx as Int32Array, val: val as Float32Array },
    );
    const owners = Array.from({ length: ev.perSequence ? ev.B : ev.N }, (_, o) => ({ owner: o }));
    ev.preFull = concatFloat32(
      await ev.evaluate(owners, (n) => ev.val0.subarray(n * ev.k0, (n + 1) * ev.k0)),
    );
    // The empty input is b_dec₀ at every position: evaluated as one sequence (a block mixes positions, and
    // per-position rounding must match what the plain algorithm computes).
    const zeros = new Float32Array(ev.k0);
    ev.preEmpty = (await ev.evaluate([{ owner: 0 }], () => zeros))[0];
    return ev;
  }

  private get perSequence(): boolean {
    return this.pm.pair.segment === 'block';
  }

  private evaluate(
    units: { owner: number; js?: number[] }[],
    values: (n: number, unit: number) => Float32Array,
  ): Promise<Float32Array[]> {
    const { pm, pool, T, k0, idx0 } = this;
    return evaluateUnits({ pm, pool, idx0, k0, T, perSequence: this.perSequence }, units, values);
  }

  /** Logits of the subcircuit keeping the top-`n` edges of `ranking`. Call with increasing n to reuse work. */
  async logits(ranking: Int32Array, n: number, opts: SubcircuitOptions): Promise<tf.Tensor3D> {
    const { pm, N, T, k0 } = this;
    const f1 = pm.f1;
    const sets = keptSets(ranking, n, f1);
    const member = new Map<number, Uint8Array>();
    for (const [j, u] of sets) {
      const m = new Uint8Array(pm.f0);
      for (const i of u) m[i] = 1;
      member.set(j, m);
    }
    const R = new Float32Array(N * f1); // latents with no kept edge stay exactly 0
    const owners = this.perSequence ? this.B : N;
    const keys: (string | number)[] = new Array(owners * f1).fill(-1);
    // Units to evaluate: key → { owner (sequence or token), latents j }.
    const pending = new Map<string, { owner: number; js: number[] }>();
    for (const [j, m] of member) {
      for (let o = 0; o < owners; o++) {
        const key = this.perSequence
          ? sequenceKey(this.seqLatents[o], m)
          : tokenKey(this.idx0, this.val0, o, k0, m);
        keys[o * f1 + j] = key;
        const full = this.perSequence ? key === 'F' : key === fullMask(this.val0, o, k0);
        if (full || key === 0 || key === 'E') {
          this.copy(R, o, j, full ? this.preFull : this.preEmpty, full ? o : 0);
        } else if (this.prevKeys && this.prevKeys[o * f1 + j] === key) {
          this.copy(R, o, j, this.prevR!, o);
        } else {
          const id = `${o}:${key}`;
          const unit = pending.get(id);
          if (unit) unit.js.push(j);
          else pending.set(id, { owner: o, js: [j] });
        }
      }
    }
    // Sorted by latent so that each batch needs few encoder columns.
    const units = [...pending.values()].sort((a, b) => a.js[0] - b.js[0] || a.owner - b.owner);
    this.lastUnits = units.length;
    const pre = await this.evaluate(units, (tok, unit) => {
      const m = member.get(units[unit].js[0])!;
      const v = new Float32Array(k0);
      for (let q = 0; q < k0; q++) if (m[this.idx0[tok * k0 + q]]) v[q] = this.val0[tok * k0 + q];
      return v;
    });
    const span = this.perSequence ? T : 1;
    units.forEach((u, c) => {
      u.js.forEach((j, q) => {
        for (let p = 0; p < span; p++) R[(u.owner * span + p) * f1 + j] = pre[c][p * u.js.length + q];
      });
    });
    this.prevR = R;
    this.prevKeys = keys;
    return pm.logitsFromPre(R, this.clean, opts.relu);
  }

  /** R[owner's tokens, j] ← src rows (src row = srcOwner's rows; per-sequence owners span T tokens). */
  private copy(
    R: Float32Array,
    owner: number,
    j: number,
    src: Float32Array,
    srcOwner: number,
    span = this.perSequence ? this.T : 1,
  ): void {
    const f1 = this.pm.f1;
    for (let p = 0; p < span; p++) R[(owner * span + p) * f1 + j] = src[(srcOwner * span + p) * f1 + j];
  }
}

/**
 * Per-token key: the token's active code slots that U keeps (0 = none kept). A 32-bit mask for k ≤ 32; beyond
 * that a bit string, since `1 << q` wraps at q = 32 and slots q and q + 32 would share a bit.
 */
export function tokenKey(
  idx: Int32Array,
  val: Float32Array,
  n: number,
  k: number,
  member: Uint8Array,
): number | string {
  if (k > 32) return bitString(k, (q) => val[n * k + q] > 0 && member[idx[n * k + q]] === 1);
  let mask = 0;
  for (let q = 0; q < k; q++) if (val[n * k + q] > 0 && member[idx[n * k + q]]) mask |= 1 << q;
  return mask;
}

/** The key of a token whose every active slot is kept (the full circuit's value). */
export function fullMask(val: Float32Array, n: number, k: number): number | string {
  if (k > 32) return bitString(k, (q) => val[n * k + q] > 0);
  let mask = 0;
  for (let q = 0; q < k; q++) if (val[n * k + q] > 0) mask |= 1 << q;
  return mask;
}

/** The kept slots as a '0'/'1' string, or 0 when none is kept (as the bitmask keys). */
function bitString(k: number, kept: (q: number) => boolean): string | 0 {
  let bits = '';
  let any = false;
  for (let q = 0; q < k; q++) {
    const b = kept(q);
    any ||= b;
    bits += b ? '1' : '0';
  }
  return any ? bits : 0;
}

/** Per-sequence key over the sequence's active latents: 'F' all kept, 'E' none, else the membership bits. */
export function sequenceKey(latents: Int32Array, member: Uint8Array): string {
  let bits = '';
  let kept = 0;
  for (const i of latents) {
    const b = member[i];
    kept += b;
    bits += b ? '1' : '0';
  }
  return kept === latents.length ? 'F' : kept === 0 ? 'E' : bits;
}

/** Where a batch of units gets its codes: the evaluation tokens' upstream codes [tokens, k₀]. */
export interface UnitSource {
  pm: PairModel;
  pool: PairPool;
  idx0: Int32Array;
  k0: number;
  T: number;
  perSequence: boolean;
  /** Tokens per segment pass (default BATCH_TOKENS; the memory bound may ask for fewer). */
  batchTokens?: number;
}

/**
 * pre₁ of the segment of decode₀ of masked codes, per unit: unit u covers token `owner` (per-token units) or
 * sequence `owner` (per-sequence), keeps the code values `values(n, u)` of each of its tokens n, and needs the
 * downstream latents `js` (all when omitted). Returns per unit a [span, |js|] array. Units are batched in
 * order, each batch computing only the union of its units' columns — callers sort units by latent.
 */
export async function evaluateUnits(
  src: UnitSource,
  units: { owner: number; js?: number[] }[],
  values: (n: number, unit: number) => Float32Array,
): Promise<Float32Array[]> {
  const { pm, T, k0, idx0, perSequence } = src;
  const span = perSequence ? T : 1;
  const all = Int32Array.from({ length: pm.f1 }, (_, j) => j);
  const perBatch = Math.max(1, Math.floor((src.batchTokens ?? BATCH_TOKENS) / span));
  const batches: { chunk: typeof units; columns: Int32Array | null }[] = [];
  const tasks: PairTask[] = [];
  for (let start = 0; start < units.length; start += perBatch) {
    const chunk = units.slice(start, start + perBatch);
    const idx = new Int32Array(chunk.length * span * k0);
    const val = new Float32Array(chunk.length * span * k0);
    chunk.forEach((u, c) => {
      for (let p = 0; p < span; p++) {
        const n = perSequence ? u.owner * T + p : u.owner;
        idx.set(idx0.subarray(n * k0, (n + 1) * k0), (c * span + p) * k0);
        val.set(values(n, start + c), (c * span + p) * k0);
      }
    });
    const columns = chunk.every((u) => !u.js)
      ? null
      : Int32Array.from(new Set(chunk.flatMap((u) => u.js ?? [...all]))).sort();
    batches.push({ chunk, columns });
    tasks.push({ op: 'preDown', idx, val, B: chunk.length, T: span, columns });
  }
  const pres = await src.pool.map(tasks);
  const results: Float32Array[] = [];
  batches.forEach(({ chunk, columns }, bi) => {
    const pre = pres[bi];
    const column = new Map<number, number>(Array.from(columns ?? all, (j, c) => [j, c]));
    const width = (columns ?? all).length;
    chunk.forEach((u, c) => {
      const js = u.js ?? [...all];
      const out = new Float32Array(span * js.length);
      for (let p = 0; p < span; p++) {
        const row = (c * span + p) * width;
        js.forEach((j, q) => (out[p * js.length + q] = pre[row + column.get(j)!]));
      }
      results.push(out);
    });
  });
  return results;
}
