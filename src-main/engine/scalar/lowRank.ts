/**
 * The low-rank form of reference-scaled edge scores (SPEC §4.2; see attributionSparse.ts):
 *
 *   A²[i, j] = Σ_n (W_dec₀[i] · c_n v_j(n))²,    v_j(n) = Σ_s ρ_j(n, s)    (s: the points where j is active at n)
 *
 * with ρ_j(n, s) = ∂pre₁_j/∂x̂ at α_s z₀ — the Jacobian row of ScalarJacobianRows (kernels/simd/attribution.ts):
 *
 *   ρ = W_fc (g ⊙ C[:, j])                                      fflayer          (C = W_pr W_enc₁, g = gelu′)
 *   ρ = W_enc₁[:, j] + s ⊙ W_fc (g ⊙ C[:, j])                     ffblock, DyT     (s = γα(1 − tanh²(αx)))
 *   ρ = W_enc₁[:, j] + J_LNᵀ W_fc (g ⊙ C[:, j])                   ffblock, LayerNorm
 *       J_LNᵀ u = rstd · (w − mean(w) − ŷ (ŷ·w)/D),  w = γ ⊙ u
 *
 * The kernel walks one row at a time and re-reads W_fc [D, M] for each (9 MB at GPT-2 sizes: memory bound).
 * Here every active (token, latent) of a point is one row of U = g[token] ⊙ C[:, j] [P, M] and ρ = U W_fcᵀ is
 * one blocked matmul — the same maths, float32 sums in another order (this form is compared to the quadratic
 * one with a tolerance anyway). The rows c_n v_j(n) are stored grouped by latent; `finish` forms
 * Y = W_dec₀ Vᵀ in column chunks and sums Y² per latent in float64.
 */
import * as tf from '@tensorflow/tfjs';
import { readAndDispose, tidy } from '../backend.ts';
import { decode } from '../sae/topk.ts';
import type { BatchCodes } from './activeSets.ts';
import { linearise } from './attribution.ts';
import type { MemoryBudget } from './memory.ts';
import type { PairModel } from './pair.ts';
import type { PairPool } from './pairPool.ts';
import type { PairTask } from './pairTasks.ts';
import { integrationPoint, type AttributionOptions } from './plain.ts';

/** The rows c_n v_j(n) of one column block, grouped by column: [Σ_j n_j, D] float32. */
export class LowRankRows {
  readonly store: Float32Array;
  private readonly offset: Int32Array;
  private readonly fill: Int32Array;
  readonly bytes: number;

  constructor(
    readonly cols: Int32Array,
    counts: Int32Array,
    private readonly D: number,
  ) {
    this.offset = new Int32Array(cols.length + 1);
    cols.forEach((j, c) => (this.offset[c + 1] = this.offset[c] + counts[j]));
    this.fill = this.offset.slice(0, cols.length);
    this.store = new Float32Array(this.offset[cols.length] * D);
    this.bytes = this.store.byteLength + 12 * cols.length;
  }

  /** One row c_n · v for column c. */
  put(c: number, scale: number, v: Float64Array, at: number): void {
    const { D } = this;
    const dst = this.fill[c]++ * D;
    for (let a = 0; a < D; a++) this.store[dst + a] = scale * v[at + a];
  }

  /**
   * A[i, c] = sqrt(Σ_rows (W_dec₀[i] · row)²) for every upstream latent i, [F₀, C] row-major: per chunk of rows,
   * the upstream latents split over the pool's threads (pairTasks.ts lowRankSquares), partial sums added in
   * float64.
   */
  async finish(pm: PairModel, pool: PairPool, budget: MemoryBudget): Promise<Float32Array> {
    const { D } = this;
    const F0 = pm.f0;
    const C = this.cols.length;
    const P = this.offset[C];
    const chunk = Math.max(1, Math.min(P, 2048));
    // acc (float64) and the scores it becomes (float32), and Y [F₀, chunk] with its column sums over the threads.
    budget.reserve('low-rank finish', F0 * C * 12 + F0 * chunk * 8);
    try {
      const acc = new Float64Array(F0 * C);
      const colOf = new Int32Array(P);
      for (let c = 0; c < C; c++) colOf.fill(c, this.offset[c], this.offset[c + 1]);
      const split = Math.ceil(F0 / pool.threads);
      for (let p0 = 0; p0 < P; p0 += chunk) {
        const pc = Math.min(chunk, P - p0);
        const c0 = colOf[p0];
        const cc = colOf[p0 + pc - 1] - c0 + 1;
        const local = Int32Array.from(colOf.subarray(p0, p0 + pc), (c) => c - c0);
        const rows = this.store.slice(p0 * D, (p0 + pc) * D);
        const tasks: PairTask[] = [];
        for (let i0 = 0; i0 < F0; i0 += split)
          tasks.push({ op: 'lowRankSquares', rows, colOf: local, cc, i0, i1: Math.min(F0, i0 + split) });
        const parts = await pool.map(tasks);
        tasks.forEach((t, q) => {
          if (t.op !== 'lowRankSquares') return;
          const part = parts[q];
          for (let i = t.i0; i < t.i1; i++)
            for (let c = 0; c < cc; c++) acc[i * C + c0 + c] += part[(i - t.i0) * cc + c];
        });
      }
      return sqrtOf(acc);
    } finally {
      budget.release('low-rank finish');
    }
  }
}

/**
 * One cached batch into `out`: per token n, the block's latents active at some point (in point, then slot
 * order), v_j(n) summed over the points in float64, stored as c_n · v_j(n). `compact`: SAE₁ codes per point
 * with block-compact column indices (value 0 outside the block); `blk`: (W_pr W_enc₁)ᵀ and W_enc₁ᵀ rows of
 * the block's latents.
 */
export async function lowRankPart(
  pm: PairModel,
  bc: BatchCodes,
  blk: { cT: tf.Tensor2D; wEncT: tf.Tensor2D },
  compact: { idx: Int32Array; val: Float32Array }[],
  o: AttributionOptions,
  out: LowRankRows,
): Promise<void> {
  const { B, T, k1 } = bc;
  const N = B * T;
  const { D } = pm;
  const S = o.steps;
  // The (token, column) pairs of the batch and, per point, the row of each active slot's pair.
  const pairStart = new Int32Array(N + 1);
  const pairCol: number[] = [];
  const slotPair = compact.map(() => new Int32Array(N * k1).fill(-1));
  for (let n = 0; n < N; n++) {
    const first = pairCol.length;
    for (let s = 0; s < compact.length; s++)
      for (let q = n * k1; q < (n + 1) * k1; q++) {
        if (!(compact[s].val[q] > 0)) continue;
        const c = compact[s].idx[q];
        let at = pairCol.indexOf(c, first);
        if (at < 0) at = pairCol.push(c) - 1;
        slotPair[s][q] = at;
      }
    pairStart[n + 1] = pairCol.length;
  }
  const v = new Float64Array(pairCol.length * D);
  const k0 = bc.codes0.width;
  const idx0 = tf.tensor2d(bc.codes0.idx, [N, k0], 'int32');
  const val0 = tf.tensor2d(bc.codes0.val, [N, k0]);
  const wFc = pm.lm.params[`h.${pm.pair.layer}.mlp.c_fc.weight`] as tf.Tensor2D;
  try {
    for (let s = 0; s < S; s++) {
      const active: number[] = [];
      slotPair[s].forEach((p, q) => p >= 0 && active.push(q));
      if (active.length === 0) continue;
      const tok = Int32Array.from(active, (q) => Math.floor(q / k1));
      const col = Int32Array.from(active, (q) => compact[s].idx[q]);
      const alpha = integrationPoint(s, S, o.singleStepAlpha);
      const rho = tidy(() => {
        const x = decode({ idx: idx0, val: tf.mul(val0, alpha) as tf.Tensor2D }, pm.up.w);
        const lin = linearise(pm, x, B, T);
        const t = tf.tensor1d(tok, 'int32');
        const c = tf.tensor1d(col, 'int32');
        const u = tf.mul(tf.gather(lin.g, t), tf.gather(blk.cT, c)); // g ⊙ C[:, j]   [P, M]
        let r = tf.matMul(u, wFc, false, true) as tf.Tensor2D; // W_fc (g ⊙ C[:, j])  [P, D]
        if (lin.mode === 1) r = tf.mul(r, tf.gather(lin.norm!, t));
        if (lin.mode === 2) {
          const w = tf.mul(r, lin.gamma!);
          const yhat = tf.gather(lin.norm!, t);
          const proj = tf.div(tf.sum(tf.mul(w, yhat), -1, true), D);
          r = tf.mul(
            tf.sub(tf.sub(w, tf.mean(w, -1, true)), tf.mul(yhat, proj)),
            tf.gather(lin.rstd!, t).reshape([-1, 1]),
          );
        }
        if (lin.mode !== 0) r = tf.add(r, tf.gather(blk.wEncT, c));
        return r;
      });
      const rows = (await readAndDispose(rho)) as Float32Array;
      active.forEach((q, r) => {
        const at = slotPair[s][q] * D;
        for (let a = 0; a < D; a++) v[at + a] += rows[r * D + a];
      });
    }
  } finally {
    tf.dispose([idx0, val0]);
  }
  for (let n = 0; n < N; n++)
    for (let p = pairStart[n]; p < pairStart[n + 1]; p++) out.put(pairCol[p], bc.c[n], v, p * D);
}

/**
 * sqrt of every element as float32. A loop, not Float32Array.from(src, fn): with a map function V8 first lists
 * an iterable source as a JS array, which fails past ~10⁸ elements (F₀·|C₁| at GPT-2 widths).
 */
export function sqrtOf(src: Float64Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let e = 0; e < src.length; e++) out[e] = Math.sqrt(Math.max(0, src[e]));
  return out;
}
