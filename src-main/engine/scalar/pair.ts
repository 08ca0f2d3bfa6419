/**
 * One SCALAR pair (SPEC §4): upstream SAE₀ → segment → downstream SAE₁, inside the frozen LM.
 *
 *   x̂      = z W_dec₀ + b_dec₀                     decode₀ of upstream codes z [B, T, F₀]
 *   y       = segment(x̂)                           tblock: block l;  fflayer: MLP l;  ffblock: x ↦ x + MLP(LN2(x))
 *   pre₁    = (y − b_dec₁) W_enc₁ + b_enc₁          downstream pre-activations [B, T, F₁]
 *   logits  = rest of the LM from SAE₁'s hook, given x̂₁ = Z₁ W_dec₁ + b_dec₁
 *
 * Segments and the rest of the model run through `Gpt.run` from the pair's hooks, so they are exactly the
 * LM's own computation; an fflayer pair's rest continues from the clean h_mid + x̂₁ (SPEC §4.3).
 */
import * as tf from '@tensorflow/tfjs';
import { readAndDispose, tidy } from '../backend.ts';
import { gelu, matMul, transpose2d } from '../kernels/ops.ts';
import type { Gpt } from '../lm/gpt.ts';
import type { SaePair } from '../sae/positions.ts';
import { activate, decode, encode, type SaeWeights, type SparseCodes } from '../sae/topk.ts';

export interface PairSae {
  /** With `threshold` for a ReLU / JumpReLU SAE: its codes then vary in count per token (topk.ts). */
  w: SaeWeights;
  /** TopK k; for a ReLU / JumpReLU SAE d_sae (unused: its activation decides). */
  k: number;
}

/** Clean activations of a batch: the upstream hook value, the context the rest of the model needs, logits. */
export interface CleanPass {
  tokens: tf.Tensor2D;
  up: tf.Tensor3D;
  /** `blocks.l.hook_resid_mid` for fflayer pairs (the rest continues from h_mid + x̂₁). */
  context: Record<string, tf.Tensor3D>;
  logits: tf.Tensor3D;
}

export class PairModel {
  readonly f0: number;
  readonly f1: number;

  constructor(
    readonly lm: Gpt,
    readonly pair: SaePair,
    readonly up: PairSae,
    readonly down: PairSae,
  ) {
    this.f0 = up.w.wDec.shape[0];
    this.f1 = down.w.wDec.shape[0];
  }

  get D(): number {
    return this.lm.config.dModel;
  }

  private get residMid(): string {
    return `blocks.${this.pair.layer}.hook_resid_mid`;
  }

  clean(tokens: tf.Tensor2D): CleanPass {
    return tidy(() => {
      const capture = [this.pair.up, ...(this.pair.segment === 'mlp' ? [this.residMid] : [])];
      const { logits, cache } = this.lm.run({ tokens, capture });
      const context = this.pair.segment === 'mlp' ? { [this.residMid]: cache[this.residMid] } : {};
      return { tokens, up: cache[this.pair.up], context, logits: logits! };
    });
  }

  /** The clean upstream hook value alone, [B, T, D] (the LM stops there: no logits). */
  upOnly(tokens: tf.Tensor2D): tf.Tensor3D {
    return tidy(
      () => this.lm.run({ tokens, capture: [this.pair.up], stopAt: this.pair.up }).cache[this.pair.up],
    );
  }

  /** SAE₀ codes of the clean upstream activation. */
  upCodes(clean: CleanPass): SparseCodes {
    return tidy(() => encode(clean.up.reshape([-1, this.D]) as tf.Tensor2D, this.up.w, this.up.k));
  }

  /** x̂ = z W_dec₀ + b_dec₀ for dense codes z [B, T, F₀]. */
  decodeUpDense(z: tf.Tensor3D): tf.Tensor3D {
    const [B, T] = z.shape;
    return tf
      .add(tf.matMul(z.reshape([B * T, this.f0]), this.up.w.wDec), this.up.w.bDec)
      .reshape([B, T, this.D]) as tf.Tensor3D;
  }

  /** segment(x) on [B, T, D] (tblock mixes positions within a sequence; the others are per token). */
  segment(x: tf.Tensor3D): tf.Tensor3D {
    return tidy(
      () =>
        this.lm.run({
          from: { hook: this.pair.up, value: x },
          capture: [this.pair.down],
          stopAt: this.pair.down,
        }).cache[this.pair.down],
    );
  }

  /** pre₁ = (y − b_dec₁) W_enc₁ + b_enc₁, [B, T, F₁]. */
  preDown(y: tf.Tensor3D): tf.Tensor3D {
    const [B, T] = y.shape;
    const w = this.down.w;
    return tf
      .add(tf.matMul(tf.sub(y.reshape([B * T, this.D]), w.bDec), w.wEnc), w.bEnc)
      .reshape([B, T, this.f1]) as tf.Tensor3D;
  }

  /** Logits of the rest of the LM from SAE₁'s hook given x̂₁ [B, T, D]. */
  logitsFrom(x1: tf.Tensor3D, clean: CleanPass): tf.Tensor3D {
    return this.lm.run({ from: { hook: this.pair.down, value: x1, context: clean.context } }).logits!;
  }

  /** x̂₁ = Z₁ W_dec₁ + b_dec₁ from sparse codes, [B, T, D]. */
  decodeDown(codes: SparseCodes, B: number, T: number): tf.Tensor3D {
    return decode(codes, this.down.w).reshape([B, T, this.D]) as tf.Tensor3D;
  }

  /**
   * pre₁ of the segment of decode₀(codes), codes for B sequences × T tokens, as a flat [B·T, C] array over the
   * downstream latents `columns` (all F₁ when omitted). For a few columns the MLP's output projection is folded
   * into the encoder, C = W_pr W_enc₁[:, columns]:
   *   pre₁ = gelu(u) C + (h_mid + b_pr − b_dec₁) W_enc₁[:, columns] + b_enc₁      (h_mid = 0 for an fflayer pair)
   * so the pass stops at the MLP's hidden layer. Without `columns` it is the plain segment + encoder.
   */
  async preDownOfCodes(
    codes: SparseCodes,
    B: number,
    T: number,
    columns?: Int32Array,
  ): Promise<Float32Array> {
    return (await readAndDispose(this.preDownOfCodesTensor(codes, B, T, columns))) as Float32Array;
  }

  /** preDownOfCodes as a tensor [B·T, C], left on the device (the webgpu ablation pass assembles from it). */
  preDownOfCodesTensor(codes: SparseCodes, B: number, T: number, columns?: Int32Array): tf.Tensor2D {
    return tidy(() => {
      if (!columns) {
        const x = decode(codes, this.up.w).reshape([B, T, this.D]) as tf.Tensor3D;
        return this.preDown(this.segment(x)).reshape([B * T, this.f1]) as tf.Tensor2D;
      }
      const { hidden, mid } = this.hiddenOfCodes(codes, B, T);
      const l = this.pair.layer;
      const w = this.down.w;
      const cols = tf.tensor1d(columns, 'int32');
      const wEnc = transpose2d(tf.gather(transpose2d(w.wEnc), cols) as tf.Tensor2D); // W_enc₁[:, columns]
      const wPr = this.lm.params[`h.${l}.mlp.c_proj.weight`] as tf.Tensor2D;
      const residual = tf.sub(this.lm.params[`h.${l}.mlp.c_proj.bias`], w.bDec); // b_pr − b_dec₁
      const skip = mid ? tf.add(mid, residual) : tf.broadcastTo(residual, [B * T, this.D]);
      const pre = tf.add(
        tf.add(matMul(hidden, matMul(wPr, wEnc)), matMul(skip as tf.Tensor2D, wEnc)),
        tf.gather(w.bEnc, cols),
      );
      return pre as tf.Tensor2D;
    });
  }

  /**
   * The segment's MLP hidden activations gelu(u) [B·T, M] for decode₀(codes), and the residual the MLP output
   * is added to (h_mid for a block or an ffblock, none for an fflayer pair). The first projection after
   * decode₀ is linear in the codes up to the LayerNorm's 1/σ, so it is a gather-sum of precomputed latent rows:
   *   fflayer:          u   = Σ_q z_q (W_dec₀ W_fc)[i_q] + (b_dec₀ W_fc + b_fc)
   *   ffblock (LN):     u   = (1/σ(x))·(Σ_q z_q Ψ[i_q] + ψ) + (β W_fc + b_fc),   Ψ = (centred W_dec₀ ⊙ γ) W_fc
   * which costs k rows instead of a D-wide matmul per token. A block or a DyT ffblock runs the LM's own pass
   * (DyT is not linear in x; for a block the same trick on LN1 → W_qkv saves only a quarter of the work and
   * changes float rounding enough to matter at 1e-5).
   */
  private hiddenOfCodes(
    codes: SparseCodes,
    B: number,
    T: number,
  ): { hidden: tf.Tensor2D; mid: tf.Tensor2D | null } {
    const l = this.pair.layer;
    const N = B * T;
    const tables = this.latentTables();
    const hiddenHook = `blocks.${l}.mlp.hook_post`;
    const x = decode(codes, this.up.w);
    const rstd = () => tf.rsqrt(tf.add(tf.moments(x, -1, true).variance, this.lm.config.lnEps));
    const projected = () => decode(codes, { ...this.up.w, wDec: tables!.rows, bDec: tables!.base });
    if (!tables) {
      const { cache } = this.lm.run({
        from: { hook: this.pair.up, value: x.reshape([B, T, this.D]) as tf.Tensor3D },
        capture: [hiddenHook, `blocks.${l}.hook_resid_mid`],
        stopAt: hiddenHook,
      });
      return {
        hidden: cache[hiddenHook].reshape([N, -1]) as tf.Tensor2D,
        mid: cache[`blocks.${l}.hook_resid_mid`].reshape([N, this.D]) as tf.Tensor2D,
      };
    }
    if (tables.kind === 'mlp') return { hidden: gelu(projected()) as tf.Tensor2D, mid: null };
    return { hidden: gelu(tf.add(tf.mul(projected(), rstd()), tables.shift)) as tf.Tensor2D, mid: x };
  }

  private tables:
    { kind: 'mlp' | 'ln'; rows: tf.Tensor2D; base: tf.Tensor1D; shift: tf.Tensor1D } | null | undefined;

  /** Latent-basis rows of the segment's first projection (see hiddenOfCodes), built once per pair. */
  private latentTables() {
    if (this.tables !== undefined) return this.tables;
    const l = this.pair.layer;
    const p = (n: string) => this.lm.params[`h.${l}.${n}`];
    const { wDec, bDec } = this.up.w;
    const centred = (t: tf.Tensor) => tf.sub(t, tf.mean(t, -1, true));
    const normed = (gamma: tf.Tensor, beta: tf.Tensor, w: tf.Tensor2D, b: tf.Tensor) => ({
      rows: matMul(tf.mul(centred(wDec), gamma) as tf.Tensor2D, w),
      base: matMul(tf.mul(centred(bDec.reshape([1, -1])), gamma) as tf.Tensor2D, w).reshape([
        -1,
      ]) as tf.Tensor1D,
      shift: tf.add(matMul(beta.reshape([1, -1]) as tf.Tensor2D, w).reshape([-1]), b) as tf.Tensor1D,
    });
    // Built inside a caller's tidy, but they live as long as the pair: kept, released by dispose().
    const keep = <T extends { rows: tf.Tensor2D; base: tf.Tensor1D; shift: tf.Tensor1D } | null>(t: T): T => {
      if (t) [t.rows, t.base, t.shift].forEach((x) => tf.keep(x));
      return t;
    };
    this.tables = tidy(() =>
      keep(
        (() => {
          if (this.pair.segment === 'mlp') {
            const wFc = p('mlp.c_fc.weight') as tf.Tensor2D;
            const base = tf.add(
              matMul(bDec.reshape([1, -1]) as tf.Tensor2D, wFc).reshape([-1]),
              p('mlp.c_fc.bias'),
            ) as tf.Tensor1D;
            return { kind: 'mlp' as const, rows: matMul(wDec, wFc), base, shift: tf.zerosLike(base) };
          }
          if (this.pair.segment === 'ffblock' && this.lm.config.norm2 === 'layernorm') {
            return {
              kind: 'ln' as const,
              ...normed(
                p('ln_2.weight'),
                p('ln_2.bias'),
                p('mlp.c_fc.weight') as tf.Tensor2D,
                p('mlp.c_fc.bias'),
              ),
            };
          }
          return null;
        })(),
      ),
    );
    return this.tables;
  }

  /** Releases the tables built for this pair. */
  dispose(): void {
    if (this.tables) tf.dispose([this.tables.rows, this.tables.base, this.tables.shift]);
    this.tables = undefined;
  }

  /**
   * Logits when SAE₁'s codes are its activation of the given pre-activations [B·T·F₁]: TopK_k (through a ReLU
   * when `relu`), or for a ReLU / JumpReLU SAE pre·1[pre > θ₁] (topk.ts activate). The full circuit is this with
   * pre = pre₁ of SAE₀'s codes and relu = true (SAE₁'s own encoder).
   */
  logitsFromPre(pre: Float32Array, clean: CleanPass, relu: boolean): tf.Tensor3D {
    const [B, T] = clean.tokens.shape;
    return tidy(() => this.logitsFromPreTensor(tf.tensor2d(pre, [B * T, this.f1]), clean, relu));
  }

  /** logitsFromPre of a tensor R [B·T, F₁] (not disposed): TopK and the rest of the model stay on the device. */
  logitsFromPreTensor(R: tf.Tensor2D, clean: CleanPass, relu: boolean): tf.Tensor3D {
    const [B, T] = clean.tokens.shape;
    return tidy(() => {
      const codes = activate(R, this.down.w, this.down.k, relu);
      return this.logitsFrom(this.decodeDown(codes, B, T), clean);
    });
  }

  /** Logits from SAE₁ codes built on the host ([B·T, width] slots; zero-valued slots are inactive). */
  logitsFromCodes(
    codes: { idx: Int32Array; val: Float32Array; width: number },
    clean: CleanPass,
  ): tf.Tensor3D {
    const [B, T] = clean.tokens.shape;
    return tidy(() => {
      const sparse = {
        idx: tf.tensor2d(codes.idx, [B * T, codes.width], 'int32'),
        val: tf.tensor2d(codes.val, [B * T, codes.width]),
      };
      return this.logitsFrom(this.decodeDown(sparse, B, T), clean);
    });
  }

  /**
   * The full circuit: SAE₀ codes → decode₀ → segment → full SAE₁ encode (its activation) → decode₁ → rest. The
   * pre-activations stay on the device (the same values the host copy had, so the same logits).
   */
  fullCircuitLogits(clean: CleanPass): Promise<tf.Tensor3D> {
    const [B, T] = clean.tokens.shape;
    return Promise.resolve(
      tidy(() => this.logitsFromPreTensor(this.preDownOfCodesTensor(this.upCodes(clean), B, T), clean, true)),
    );
  }
}

/** Per-token KL(P‖Q) = Σ_v P log((P+1e-8)/(Q+1e-8)) between two logit tensors [B, T, V] → [B·T]. */
export async function perTokenKl(pLogits: tf.Tensor3D, qLogits: tf.Tensor3D): Promise<Float32Array> {
  const kl = tidy(() => {
    const p = tf.softmax(pLogits);
    const q = tf.softmax(qLogits);
    return tf.sum(tf.mul(p, tf.sub(tf.log(tf.add(p, 1e-8)), tf.log(tf.add(q, 1e-8)))), -1);
  });
  return (await readAndDispose(kl)) as Float32Array;
}
