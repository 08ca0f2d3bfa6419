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
import { tidy } from '../backend.ts';
import { matMul, transpose2d } from '../kernels/ops.ts';
import type { Gpt } from '../lm/gpt.ts';
import type { SaePair } from '../sae/positions.ts';
import { decode, encode, topk, type SaeWeights, type SparseCodes } from '../sae/topk.ts';

export interface PairSae {
  w: SaeWeights;
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
  preDownOfCodes(codes: SparseCodes, B: number, T: number, columns?: Int32Array): Float32Array {
    return tidy(() => {
      const x = decode(codes, this.up.w).reshape([B, T, this.D]) as tf.Tensor3D;
      if (!columns) return this.preDown(this.segment(x)).dataSync() as Float32Array;
      const l = this.pair.layer;
      const hidden = `blocks.${l}.mlp.hook_post`;
      const mid = `blocks.${l}.hook_resid_mid`;
      const perBlock = this.pair.segment !== 'mlp';
      const { cache } = this.lm.run({
        from: { hook: this.pair.up, value: x },
        capture: perBlock ? [hidden, mid] : [hidden],
        stopAt: hidden,
      });
      const w = this.down.w;
      const cols = tf.tensor1d(columns, 'int32');
      const wEnc = transpose2d(tf.gather(transpose2d(w.wEnc), cols) as tf.Tensor2D); // W_enc₁[:, columns]
      const wPr = this.lm.params[`h.${l}.mlp.c_proj.weight`] as tf.Tensor2D;
      const M = wPr.shape[0];
      const residual = tf.sub(this.lm.params[`h.${l}.mlp.c_proj.bias`], w.bDec); // b_pr − b_dec₁
      const skip = perBlock
        ? tf.add(cache[mid].reshape([B * T, this.D]), residual)
        : tf.broadcastTo(residual, [B * T, this.D]);
      const pre = tf.add(
        tf.add(
          matMul(cache[hidden].reshape([B * T, M]) as tf.Tensor2D, matMul(wPr, wEnc)),
          matMul(skip as tf.Tensor2D, wEnc),
        ),
        tf.gather(w.bEnc, cols),
      );
      return pre.dataSync() as Float32Array;
    });
  }

  /**
   * Logits when SAE₁'s codes are TopK of the given pre-activations [B·T·F₁] (through a ReLU when `relu`):
   * the full circuit is this with pre = pre₁ of SAE₀'s codes and relu = true (SAE₁'s own encoder).
   */
  logitsFromPre(pre: Float32Array, clean: CleanPass, relu: boolean): tf.Tensor3D {
    const [B, T] = clean.tokens.shape;
    return tidy(() => {
      const R = tf.tensor2d(pre, [B * T, this.f1]);
      const codes = topk(relu ? (tf.relu(R) as tf.Tensor2D) : R, this.down.k);
      return this.logitsFrom(this.decodeDown(codes, B, T), clean);
    });
  }

  /** The full circuit: SAE₀ codes → decode₀ → segment → full SAE₁ encode (ReLU + TopK) → decode₁ → rest. */
  fullCircuitLogits(clean: CleanPass): tf.Tensor3D {
    const [B, T] = clean.tokens.shape;
    const codes = this.upCodes(clean);
    const pre = this.preDownOfCodes(codes, B, T);
    tf.dispose([codes.idx, codes.val]);
    return this.logitsFromPre(pre, clean, true);
  }
}

/** Per-token KL(P‖Q) = Σ_v P log((P+1e-8)/(Q+1e-8)) between two logit tensors [B, T, V] → [B·T]. */
export function perTokenKl(pLogits: tf.Tensor3D, qLogits: tf.Tensor3D): Float32Array {
  return tidy(() => {
    const p = tf.softmax(pLogits);
    const q = tf.softmax(qLogits);
    return tf
      .sum(tf.mul(p, tf.sub(tf.log(tf.add(p, 1e-8)), tf.log(tf.add(q, 1e-8)))), -1)
      .dataSync() as Float32Array;
  });
}
