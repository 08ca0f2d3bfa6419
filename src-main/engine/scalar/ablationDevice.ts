/**
 * Progressive edge ablation (SPEC §4.3) on the webgpu backend: the same units, keys, batches and reuse as
 * SubcircuitEvaluator (ablation.ts), but every activation stays on the device. The host decides from the unit
 * keys where each R[token, j] comes from (full circuit, empty input, previous budget, or a unit evaluated now)
 * and uploads only index arrays: the token rows and kept-slot masks of each batch's codes, and the source codes
 * and scatter targets from which the WGSL kernel ScalarAblationAssemble builds R (webgpu/ablation.ts). TopK
 * (the WGSL select), the rest of the model and the KL run on the device; the caller reads the per-token KL.
 *
 * Each batch's pre-activations come from the same PairModel computation on the same codes as on the CPU path,
 * so R, and hence the logits, equal that path's on the same backend; only where R is assembled differs.
 * The upstream codes are read back once (create), since the unit keys are computed on the host.
 */
import * as tf from '@tensorflow/tfjs';
import { runScalarKernel, scalarKernelRegistered } from '../kernels/registry.ts';
import type { SparseCodes } from '../sae/topk.ts';
import { BATCH_TOKENS, fullMask, sequenceKey, tokenKey } from './ablation.ts';
import type { CleanPass, PairModel } from './pair.ts';
import type { SubcircuitOptions } from './plain.ts';
import { keptSets } from './ranking.ts';

/** Source codes of R's elements (the base stage of ScalarAblationAssemble). */
const ZERO = -1;
const FULL = 0;
const EMPTY = 1;
const PREV = 2;

/** Whether the active backend runs the ablation pass on the device. */
export function ablationOnDevice(): boolean {
  return tf.getBackend() === 'webgpu' && scalarKernelRegistered('ScalarAblationAssemble', 'webgpu');
}

export class DeviceSubcircuitEvaluator {
  readonly N: number;
  private readonly B: number;
  private readonly T: number;
  private readonly k0: number;
  /** tblock: each sequence's distinct active upstream latents. */
  private readonly seqLatents: Int32Array[];
  /** pre₁ of the full circuit [N, F₁] and of the empty input [T or 1, F₁], on the device. */
  private preFull: tf.Tensor2D | null = null;
  private preEmpty: tf.Tensor2D | null = null;
  /** The previous budget's R (device) and unit keys (host), for reuse. */
  private prevR: tf.Tensor2D | null = null;
  private prevKeys: (string | number)[] | null = null;
  /** Units evaluated at the last budget (for progress and benchmarks). */
  lastUnits = 0;

  private constructor(
    private readonly pm: PairModel,
    private readonly clean: CleanPass,
    private readonly codes: SparseCodes,
    private readonly idx0: Int32Array,
    private readonly val0: Float32Array,
    private readonly batchTokens: number,
  ) {
    const [B, T] = clean.tokens.shape;
    this.B = B;
    this.T = T;
    this.N = B * T;
    this.k0 = pm.up.k;
    this.seqLatents = Array.from({ length: B }, (_, b) => {
      const set = new Set<number>();
      for (let n = b * T; n < (b + 1) * T; n++)
        for (let q = 0; q < this.k0; q++)
          if (this.val0[n * this.k0 + q] > 0) set.add(this.idx0[n * this.k0 + q]);
      return Int32Array.from([...set].sort((a, c) => a - c));
    });
  }

  /** `batchTokens` (tests) bounds each segment pass; the default is the CPU path's, so the results match it. */
  static async create(
    pm: PairModel,
    clean: CleanPass,
    batchTokens = BATCH_TOKENS,
  ): Promise<DeviceSubcircuitEvaluator> {
    const codes = pm.upCodes(clean);
    // The codes' indices and values (N × k₀) are read once: the unit keys are host work.
    const [idx, val] = await Promise.all([codes.idx.data(), codes.val.data()]);
    const ev = new DeviceSubcircuitEvaluator(
      pm,
      clean,
      codes,
      idx as Int32Array,
      val as Float32Array,
      batchTokens,
    );
    const span = ev.span;
    const owners = ev.perSequence ? ev.B : ev.N;
    const perBatch = Math.max(1, Math.floor(batchTokens / span));
    // The full circuit in the CPU path's batches (the same codes, so the same values).
    ev.preFull = tf.tidy(() => {
      const parts: tf.Tensor2D[] = [];
      for (let o = 0; o < owners; o += perBatch) {
        const count = Math.min(perBatch, owners - o);
        const rows = Int32Array.from({ length: count * span }, (_, r) => o * span + r);
        parts.push(ev.preOfRows(rows, null, count));
      }
      return parts.length === 1 ? parts[0] : (tf.concat(parts, 0) as tf.Tensor2D);
    });
    // The empty input (b_dec₀ everywhere): the first owner's code rows with every value 0, as on the CPU path.
    ev.preEmpty = tf.tidy(() =>
      ev.preOfRows(
        Int32Array.from({ length: span }, (_, r) => r),
        new Float32Array(span * ev.k0),
        1,
      ),
    );
    return ev;
  }

  private get perSequence(): boolean {
    return this.pm.pair.segment === 'block';
  }

  private get span(): number {
    return this.perSequence ? this.T : 1;
  }

  /**
   * pre₁ [rows.length, C] of the codes of the given token rows, each value times `keep` (0/1 per slot; all kept
   * when null), over `columns` (all F₁ when omitted), for `units` units of `span` tokens.
   */
  private preOfRows(rows: Int32Array, keep: Float32Array | null, units: number, columns?: Int32Array) {
    const r = tf.tensor1d(rows, 'int32');
    const idx = tf.gather(this.codes.idx, r) as tf.Tensor2D;
    const gathered = tf.gather(this.codes.val, r) as tf.Tensor2D;
    // Multiplying by exactly 1 or 0 keeps or zeroes a slot without changing a kept value.
    const val = keep ? (tf.mul(gathered, tf.tensor2d(keep, gathered.shape)) as tf.Tensor2D) : gathered;
    return this.pm.preDownOfCodesTensor({ idx, val }, units, this.span, columns);
  }

  /** Logits of the subcircuit keeping the top-`n` edges of `ranking`. Call with increasing n to reuse work. */
  async logits(ranking: Int32Array, n: number, opts: SubcircuitOptions): Promise<tf.Tensor3D> {
    const { pm, N, k0, span } = this;
    const f1 = pm.f1;
    const member = new Map<number, Uint8Array>();
    for (const [j, u] of keptSets(ranking, n, f1)) {
      const m = new Uint8Array(pm.f0);
      for (const i of u) m[i] = 1;
      member.set(j, m);
    }
    const code = new Int32Array(N * f1).fill(ZERO); // latents with no kept edge stay exactly 0
    const owners = this.perSequence ? this.B : N;
    const keys: (string | number)[] = new Array(owners * f1).fill(-1);
    const pending = new Map<string, { owner: number; js: number[] }>();
    for (const [j, m] of member) {
      for (let o = 0; o < owners; o++) {
        const key = this.perSequence
          ? sequenceKey(this.seqLatents[o], m)
          : tokenKey(this.idx0, this.val0, o, k0, m);
        keys[o * f1 + j] = key;
        const full = this.perSequence ? key === 'F' : key === fullMask(this.val0, o, k0);
        let source = ZERO;
        if (full) source = FULL;
        else if (key === 0 || key === 'E') source = EMPTY;
        else if (this.prevKeys && this.prevKeys[o * f1 + j] === key) source = PREV;
        else {
          const id = `${o}:${key}`;
          const unit = pending.get(id);
          if (unit) unit.js.push(j);
          else pending.set(id, { owner: o, js: [j] });
        }
        for (let p = 0; p < span; p++) code[(o * span + p) * f1 + j] = source;
      }
    }
    // Sorted by latent so that each batch needs few encoder columns (as on the CPU path).
    const units = [...pending.values()].sort((a, b) => a.js[0] - b.js[0] || a.owner - b.owner);
    this.lastUnits = units.length;
    const perBatch = Math.max(1, Math.floor(this.batchTokens / span));
    const R = tf.tidy(() => {
      const inputs: Record<string, tf.Tensor> = {
        code: tf.tensor1d(code, 'int32'),
        full: this.preFull!,
        empty: this.preEmpty!,
        prev: this.prevR ?? this.preFull!,
      };
      let batches = 0;
      for (let start = 0; start < units.length; start += perBatch, batches++) {
        const chunk = units.slice(start, start + perBatch);
        const rows = new Int32Array(chunk.length * span);
        const keep = new Float32Array(chunk.length * span * k0);
        chunk.forEach((u, c) => {
          const m = member.get(u.js[0])!;
          for (let p = 0; p < span; p++) {
            const tok = u.owner * span + p;
            rows[c * span + p] = tok;
            for (let q = 0; q < k0; q++) keep[(c * span + p) * k0 + q] = m[this.idx0[tok * k0 + q]];
          }
        });
        const columns = Int32Array.from(new Set(chunk.flatMap((u) => u.js))).sort();
        const column = new Map<number, number>(Array.from(columns, (j, c) => [j, c]));
        const tgt = new Int32Array(chunk.length * span * columns.length).fill(-1);
        chunk.forEach((u, c) => {
          for (const j of u.js)
            for (let p = 0; p < span; p++)
              tgt[(c * span + p) * columns.length + column.get(j)!] = (u.owner * span + p) * f1 + j;
        });
        inputs[`pre${batches}`] = this.preOfRows(rows, keep, chunk.length, columns);
        inputs[`tgt${batches}`] = tf.tensor1d(tgt, 'int32');
      }
      const attrs = { T: this.T, perSequence: this.perSequence ? 1 : 0, batches };
      return runScalarKernel('ScalarAblationAssemble', inputs, attrs)[0] as tf.Tensor2D;
    });
    this.prevR?.dispose();
    this.prevR = R;
    this.prevKeys = keys;
    return pm.logitsFromPreTensor(R, this.clean, opts.relu);
  }

  /** Releases the device tensors this evaluator holds. */
  dispose(): void {
    tf.dispose([this.codes.idx, this.codes.val, this.preFull!, this.preEmpty!]);
    this.prevR?.dispose();
    this.preFull = this.preEmpty = this.prevR = null;
  }
}
