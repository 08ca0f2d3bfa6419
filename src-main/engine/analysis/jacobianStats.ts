/**
 * The Jacobian between the two SAEs of a JSAE pair (SPEC §3.3), entry by entry, aggregated over an evaluation
 * set: for every (upstream latent i, downstream latent j) the mean over tokens of |J[j,i]| and of J[j,i]
 * (zero on tokens where either latent is inactive). Per token, with K₁/K₂ the active latents and g the GELU
 * derivative at the clean MLP pre-activation:
 *
 *   fflayer            J[j,i] = Σ_m A[i,m] g_m C[m,j]                       A = W_dec_in W_fc, C = W_pr W_enc_out
 *   ffblock, LayerNorm J[j,i] = Σ_m (Q[i,m] − μ_i c0_m − (p_i/D) z_m)/σ · g_m C[m,j] + W_dec[i]·W_enc[:,j]
 *                      Q = (W_dec ⊙ γ) W_fc, c0 = γ W_fc, z = (γ ⊙ ŷ) W_fc, μ_i = mean(W_dec[i]), p_i = ŷ·W_dec[i]
 *   ffblock, DyT       J[j,i] = Σ_m ((W_dec[i] ⊙ s) W_fc)_m g_m C[m,j] + W_dec[i]·W_enc[:,j],  s = γα(1 − tanh²(αx))
 *
 * (the same linearisation the training penalty uses — `mlpLinearisation` — written out per entry here).
 */
import * as tf from '@tensorflow/tfjs';
import { readAndDispose, tidy } from '../backend.ts';
import type { Gpt } from '../lm/gpt.ts';
import { mlpLinearisation } from '../sae/jacobian.ts';
import type { SaePair } from '../sae/positions.ts';
import type { SaeSet } from '../sae/saeSet.ts';

export interface JacobianEntries {
  pair: string;
  up: string;
  down: string;
  tokens: number;
  i: Int32Array;
  j: Int32Array;
  meanAbs: Float32Array;
  mean: Float32Array;
  /** Rank of the entry among all non-zero entries by mean |J| (0 = largest). */
  rank: Int32Array;
}

const DENSE_LIMIT = 1 << 22;

/**
 * Per token the k₁×k₂ block is one batched matmul: V [N, k₁, M] (the upstream rows through the MLP's input side
 * and g) times the gathered C rows [N, k₂, M]ᵀ, plus the skip path W_dec[K₁] · W_enc[:, K₂]ᵀ for ffblock. The
 * gathers are plain typed-array copies (tfjs-wasm's gather is slow at this size); the products run in tfjs; the
 * entries are accumulated in float64.
 */
export class JacobianAccumulator {
  private readonly mode: 0 | 1 | 2;
  private readonly F1: number;
  private readonly F2: number;
  private readonly D: number;
  private readonly M: number;
  private readonly wDec: Float32Array; // [F1, D]
  private readonly wEncT: Float32Array; // [F2, D]
  private readonly cT: Float32Array; // [F2, M] = (W_pr W_enc_out)ᵀ
  private readonly rows: Float32Array; // A = W_dec W_fc (fflayer) or Q = (W_dec ⊙ γ) W_fc (LayerNorm) [F1, M]
  private readonly c0: Float32Array; // γ W_fc [M]
  private readonly mu: Float64Array; // mean of each decoder row
  private readonly absSum: Float64Array | null;
  private readonly sum: Float64Array | null;
  private readonly sparse: Map<number, [number, number]> | null;
  tokens = 0;

  /** Reads the pair's weights (asynchronously: the webgpu backend has no synchronous reads). */
  static async create(lm: Gpt, set: SaeSet, pair: SaePair, label: string): Promise<JacobianAccumulator> {
    if (pair.segment === 'block')
      throw new Error('Jacobian entries need an MLP segment (fflayer or ffblock)');
    const up = set.view(pair.up);
    const down = set.view(pair.down);
    const mode: 0 | 1 | 2 = pair.segment === 'mlp' ? 0 : lm.config.norm2 === 'dyt' ? 1 : 2;
    const p = (n: string) => lm.params[`h.${pair.layer}.${n}`];
    const t = tidy(() => {
      const w1 = set.weights(up);
      const w2 = set.weights(down);
      const wFc = p('mlp.c_fc.weight') as tf.Tensor2D;
      const gamma = p('ln_2.weight') as tf.Tensor1D;
      return {
        wDec: tf.clone(w1.wDec),
        wEncT: tf.transpose(w2.wEnc),
        cT: tf.transpose(tf.matMul(p('mlp.c_proj.weight') as tf.Tensor2D, w2.wEnc)),
        rows:
          mode === 0
            ? tf.matMul(w1.wDec, wFc)
            : mode === 2
              ? tf.matMul(tf.mul(w1.wDec, gamma) as tf.Tensor2D, wFc)
              : tf.zeros([0]),
        c0: tf.matMul(gamma.reshape([1, -1]), wFc),
      };
    });
    const read = async (x: tf.Tensor) => Float32Array.from((await readAndDispose(x)) as Float32Array);
    const r = {
      wDec: await read(t.wDec),
      wEncT: await read(t.wEncT),
      cT: await read(t.cT),
      rows: await read(t.rows),
      c0: await read(t.c0),
    };
    return new JacobianAccumulator(lm, pair, label, up.width, down.width, mode, r);
  }

  private constructor(
    private readonly lm: Gpt,
    readonly pair: SaePair,
    readonly label: string,
    F1: number,
    F2: number,
    mode: 0 | 1 | 2,
    r: { wDec: Float32Array; wEncT: Float32Array; cT: Float32Array; rows: Float32Array; c0: Float32Array },
  ) {
    this.F1 = F1;
    this.F2 = F2;
    this.D = lm.config.dModel;
    this.M = lm.config.dMlp;
    this.mode = mode;
    this.wDec = r.wDec;
    this.wEncT = r.wEncT;
    this.cT = r.cT;
    this.rows = r.rows;
    this.c0 = r.c0;
    this.mu = new Float64Array(this.F1);
    for (let i = 0; i < this.F1; i++) {
      let s = 0;
      for (let d = 0; d < this.D; d++) s += this.wDec[i * this.D + d];
      this.mu[i] = s / this.D;
    }
    const dense = this.F1 * this.F2 <= DENSE_LIMIT;
    this.absSum = dense ? new Float64Array(this.F1 * this.F2) : null;
    this.sum = dense ? new Float64Array(this.F1 * this.F2) : null;
    this.sparse = dense ? null : new Map();
  }

  /** Rows `idx` [N·k] of a row-major [*, width] matrix, as [N·k, width]. */
  private static gather(src: Float32Array, width: number, idx: ArrayLike<number>): Float32Array {
    const out = new Float32Array(idx.length * width);
    for (let r = 0; r < idx.length; r++)
      out.set(src.subarray(idx[r] * width, (idx[r] + 1) * width), r * width);
    return out;
  }

  /** One batch: clean upstream activations x [N, D] and both SAEs' codes (idx/val [N, k]). */
  async add(
    x: tf.Tensor2D,
    up: { idx: ArrayLike<number>; val: ArrayLike<number> },
    down: { idx: ArrayLike<number>; val: ArrayLike<number> },
    k1: number,
    k2: number,
  ): Promise<void> {
    const N = x.shape[0];
    const { D, M, F2, mode } = this;
    const lin = mlpLinearisation(this.lm, this.pair.layer, x, this.pair.segment as 'mlp' | 'ffblock');
    // The linearisation's per-token values on the host (read asynchronously), then J from gathered rows.
    const zT =
      mode === 2 ? tidy(() => tf.matMul(tf.mul(lin.norm!, lin.gamma!) as tf.Tensor2D, lin.wFc)) : null;
    const host = async (t: tf.Tensor | null | undefined) =>
      t ? ((await t.data()) as Float32Array) : new Float32Array(0);
    const [g, norm, rstd, z] = await Promise.all([host(lin.g), host(lin.norm), host(lin.rstd), host(zT)]);
    let Jt: tf.Tensor;
    try {
      Jt = tidy(() => {
        let v: tf.Tensor3D;
        if (mode === 1) {
          // DyT: ((W_dec[i] ⊙ s) W_fc) ⊙ g, s = γα(1 − tanh²(αx))
          const s = norm;
          const scaled = JacobianAccumulator.gather(this.wDec, D, up.idx);
          for (let n = 0; n < N; n++)
            for (let a = 0; a < k1; a++)
              for (let d = 0; d < D; d++) scaled[(n * k1 + a) * D + d] *= s[n * D + d];
          v = tf.mul(
            tf.matMul(tf.tensor2d(scaled, [N * k1, D]), lin.wFc).reshape([N, k1, M]),
            lin.g.expandDims(1),
          ) as tf.Tensor3D;
        } else {
          const vv = JacobianAccumulator.gather(this.rows, M, up.idx);
          if (mode === 0) {
            for (let n = 0; n < N; n++)
              for (let a = 0; a < k1; a++) {
                const o = (n * k1 + a) * M;
                for (let m = 0; m < M; m++) vv[o + m] *= g[n * M + m];
              }
          } else {
            // LayerNorm: (Q[i] − μ_i c0 − (ŷ·W_dec[i] / D) z) / σ ⊙ g, z = (γ ⊙ ŷ) W_fc
            const yhat = norm;
            for (let n = 0; n < N; n++)
              for (let a = 0; a < k1; a++) {
                const i = up.idx[n * k1 + a];
                let pd = 0;
                for (let d = 0; d < D; d++) pd += yhat[n * D + d] * this.wDec[i * D + d];
                const o = (n * k1 + a) * M;
                const mu = this.mu[i];
                for (let m = 0; m < M; m++)
                  vv[o + m] =
                    (vv[o + m] - mu * this.c0[m] - (pd / D) * z[n * M + m]) * rstd[n] * g[n * M + m];
              }
          }
          v = tf.tensor3d(vv, [N, k1, M]);
        }
        const ck = tf.tensor3d(JacobianAccumulator.gather(this.cT, M, down.idx), [N, k2, M]);
        let j = tf.matMul(v, ck, false, true); // [N, k1, k2]
        if (mode !== 0) {
          const wd = tf.tensor3d(JacobianAccumulator.gather(this.wDec, D, up.idx), [N, k1, D]);
          const we = tf.tensor3d(JacobianAccumulator.gather(this.wEncT, D, down.idx), [N, k2, D]);
          j = tf.add(j, tf.matMul(wd, we, false, true));
        }
        return j;
      });
    } finally {
      // The linearisation's own tensors (its weights are the LM's).
      tf.dispose([lin.g, lin.norm, lin.rstd, zT].filter((t): t is tf.Tensor => !!t));
    }
    const J = (await readAndDispose(Jt)) as Float32Array;
    for (let n = 0; n < N; n++)
      for (let a = 0; a < k1; a++) {
        if (!(up.val[n * k1 + a] > 0)) continue;
        const i = up.idx[n * k1 + a];
        for (let b = 0; b < k2; b++) {
          if (!(down.val[n * k2 + b] > 0)) continue;
          const v = J[(n * k1 + a) * k2 + b];
          const key = i * F2 + down.idx[n * k2 + b];
          if (this.absSum) {
            this.absSum[key] += Math.abs(v);
            this.sum![key] += v;
          } else {
            const e = this.sparse!.get(key);
            if (e) {
              e[0] += Math.abs(v);
              e[1] += v;
            } else this.sparse!.set(key, [Math.abs(v), v]);
          }
        }
      }
    this.tokens += N;
  }

  /**
   * The entries worth storing: the `top` largest by mean |J| overall, plus each latent's `partners` largest in
   * both directions (a row of J for an upstream latent, a column for a downstream one).
   */
  result(opts: { top: number; partners: number }): JacobianEntries {
    const keys: number[] = [];
    const abs: number[] = [];
    const sums: number[] = [];
    if (this.absSum) {
      for (let key = 0; key < this.absSum.length; key++)
        if (this.absSum[key] > 0) {
          keys.push(key);
          abs.push(this.absSum[key]);
          sums.push(this.sum![key]);
        }
    } else {
      for (const [key, [a, s]] of this.sparse!)
        if (a > 0) {
          keys.push(key);
          abs.push(a);
          sums.push(s);
        }
    }
    const order = keys.map((_, r) => r).sort((x, y) => abs[y] - abs[x] || keys[x] - keys[y]);
    const perRow = new Int32Array(this.F1);
    const perCol = new Int32Array(this.F2);
    const chosen: number[] = [];
    const ranks: number[] = [];
    order.forEach((r, rank) => {
      const i = Math.floor(keys[r] / this.F2);
      const j = keys[r] % this.F2;
      const keep = rank < opts.top || perRow[i] < opts.partners || perCol[j] < opts.partners;
      perRow[i]++;
      perCol[j]++;
      if (keep) {
        chosen.push(r);
        ranks.push(rank);
      }
    });
    const T = Math.max(1, this.tokens);
    return {
      pair: this.label,
      up: this.pair.up,
      down: this.pair.down,
      tokens: this.tokens,
      i: Int32Array.from(chosen, (r) => Math.floor(keys[r] / this.F2)),
      j: Int32Array.from(chosen, (r) => keys[r] % this.F2),
      meanAbs: Float32Array.from(chosen, (r) => abs[r] / T),
      mean: Float32Array.from(chosen, (r) => sums[r] / T),
      rank: Int32Array.from(ranks),
    };
  }
}
