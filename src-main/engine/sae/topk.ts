/**
 * TopK SAE (SPEC §3.1), row-vector convention, x [N, D]:
 *
 *   pre  = relu((x − b_dec) W_enc + b_enc)          W_enc [D, F], b_enc [F], W_dec [F, D], b_dec [D]
 *   z    = pre masked to its k largest entries       (exactly k; lowest index wins ties; mask is constant)
 *   xhat = z W_dec + b_dec                           (a gather-sum over the k active rows)
 *   loss = mean_n Σ_d (x − xhat)²
 *
 * Codes are sparse: `idx` [N, k] int32 and `val` [N, k]. With SIMD kernels the gradient is computed
 * explicitly in O(N·k·D); the tfjs formulation builds the dense code and differentiates it (the oracle).
 */
import * as tf from '@tensorflow/tfjs';
import { tidy } from '../backend.ts';
import { stopGradient, transpose2d, useKernel } from '../kernels/ops.ts';
import { runScalarKernel } from '../kernels/registry.ts';
import { Rng } from '../random.ts';

export interface SaeWeights {
  wEnc: tf.Tensor2D;
  bEnc: tf.Tensor1D;
  wDec: tf.Tensor2D;
  bDec: tf.Tensor1D;
  /**
   * Present for an imported ReLU / JumpReLU SAE: z = pre·1[pre > θ] with θ ≥ 0 per latent
   * (zeros for ReLU). Absent for TopK SAEs, whose codes keep exactly k latents.
   */
  threshold?: tf.Tensor1D;
}

export interface SparseCodes {
  idx: tf.Tensor2D;
  val: tf.Tensor2D;
}

/** W_dec ~ U(±√(6/D)) (Kaiming-uniform with fan_in D), W_enc = W_decᵀ as an independent copy. */
export function initDictionary(
  width: number,
  dModel: number,
  rng: Rng,
): { wEnc: Float32Array; wDec: Float32Array } {
  const bound = Math.sqrt(6 / dModel);
  const wDec = rng.uniformArray(width * dModel, -bound, bound);
  const wEnc = new Float32Array(width * dModel);
  for (let f = 0; f < width; f++) for (let d = 0; d < dModel; d++) wEnc[d * width + f] = wDec[f * dModel + d];
  return { wEnc, wDec };
}

/** pre = relu((x − b_dec) W_enc + b_enc), [N, F]. */
export function encodePre(x: tf.Tensor2D, w: SaeWeights): tf.Tensor2D {
  return tf.relu(tf.add(tf.matMul(tf.sub(x, w.bDec), w.wEnc), w.bEnc)) as tf.Tensor2D;
}

/**
 * The k largest entries of each row of `pre`, sorted descending (exactly k, lowest index first among equals).
 * `pre` is used as given (no ReLU): SCALAR's subcircuit selects TopK of raw pre-activations (SPEC §4.3).
 */
export function topk(pre: tf.Tensor2D, k: number): SparseCodes {
  if (useKernel('ScalarTopK')) {
    const [idx, val] = runScalarKernel('ScalarTopK', { xw: pre }, { topk: k, relu: 0 });
    return { idx: idx as tf.Tensor2D, val: val as tf.Tensor2D };
  }
  const { values, indices } = tf.topk(pre, k, true); // tfjs documents lower-index-first for equal values
  return { idx: indices as tf.Tensor2D, val: values as tf.Tensor2D };
}

/**
 * Codes of x: TopK (the SIMD path fuses + b_enc, the ReLU and the selection into one pass), or for a threshold
 * SAE (w.threshold) its own activation, padded to the batch's largest active count (thresholdCodes).
 */
export function encode(x: tf.Tensor2D, w: SaeWeights, k: number): SparseCodes {
  return tidy(() => {
    if (w.threshold)
      return thresholdCodes(tf.add(tf.matMul(tf.sub(x, w.bDec), w.wEnc), w.bEnc) as tf.Tensor2D, w.threshold);
    if (!useKernel('ScalarTopK')) return topk(encodePre(x, w), k);
    const [idx, val] = runScalarKernel(
      'ScalarTopK',
      { xw: tf.matMul(tf.sub(x, w.bDec), w.wEnc), bEnc: w.bEnc },
      { topk: k },
    );
    return { idx: idx as tf.Tensor2D, val: val as tf.Tensor2D };
  });
}

/**
 * Codes of a ReLU / JumpReLU SAE from raw pre-activations [N, F]: z = pre·1[pre > θ] (θ ≥ 0, so z ≥ 0). The
 * number of active latents varies per token, and every sparse kernel walks a fixed number of slots per row, so
 * the codes are all F entries of z sorted descending: the active latents (value > 0) come first, the other
 * slots hold value 0, which decode and the SCALAR kernels skip (they treat val ≤ 0 as inactive). Knowing the
 * batch's largest active count would need a synchronous read (not possible on webgpu inside a tidy); callers
 * that can wait for a read cut them to that count (ablation.ts compactCodes, attribution.ts compactThresholdCodes).
 */
export function thresholdCodes(pre: tf.Tensor2D, threshold: tf.Tensor1D): SparseCodes {
  return tidy(() => {
    const z = tf.mul(pre, tf.cast(tf.greater(pre, threshold), 'float32')) as tf.Tensor2D; // step mask: constant
    const { values, indices } = tf.topk(z, z.shape[1], true);
    return { idx: indices as tf.Tensor2D, val: values as tf.Tensor2D };
  });
}

/**
 * Host codes [N, w] whose active slots (val > 0) come first in each row (TopK and thresholdCodes order), cut to
 * m = the largest active count (≥ 1): the same codes with the trailing inactive slots dropped.
 */
export function compactCodes(
  idx: Int32Array,
  val: Float32Array,
  N: number,
): { idx: Int32Array; val: Float32Array } {
  const w = idx.length / N;
  let m = 1;
  for (let n = 0; n < N; n++) {
    let c = 0;
    while (c < w && val[n * w + c] > 0) c++;
    m = Math.max(m, c);
  }
  if (m === w) return { idx, val };
  const out = { idx: new Int32Array(N * m), val: new Float32Array(N * m) };
  for (let n = 0; n < N; n++) {
    out.idx.set(idx.subarray(n * w, n * w + m), n * m);
    out.val.set(val.subarray(n * w, n * w + m), n * m);
  }
  return out;
}

/**
 * SAE₁'s own activation applied to (reconstructed) pre-activations R [N, F] in SCALAR's subcircuit (SPEC §4.3):
 * TopK_k (through a ReLU when `relu`) for a TopK SAE; z = R·1[R > θ] for a ReLU / JumpReLU SAE, which zeroes
 * negative values by itself, so `relu` changes nothing there.
 */
export function activate(R: tf.Tensor2D, w: SaeWeights, k: number, relu: boolean): SparseCodes {
  if (w.threshold) return thresholdCodes(R, w.threshold);
  return topk(relu ? (tf.relu(R) as tf.Tensor2D) : R, k);
}

/**
 * The SIMD decode and backward kernels walk rows of D in 4-lane vectors: other model widths would read and
 * write past each row, so they take the composite formulation (as layerNorm and embedding do in ops.ts).
 */
const simdRows = (D: number, kernel: string) => useKernel(kernel) && D % 4 === 0;

/**
 * Dense codes [N, F] from sparse ones, scattered: z[n, idx[n, j]] = val[n, j]. Only the [N, F] result is
 * allocated (a one-hot [N, k, F] would be k times larger: 3 GiB at 1,024 tokens, k 32, F 24,576).
 */
export function densify(codes: SparseCodes, width: number): tf.Tensor2D {
  return tf.tidy(() => {
    const [N, k] = codes.idx.shape;
    const rows = tf.tile(tf.range(0, N, 1, 'int32').reshape([N, 1]), [1, k]);
    const at = tf.stack([rows.reshape([N * k]), codes.idx.reshape([N * k])], 1) as tf.Tensor2D; // [N·k, 2]
    return tf.scatterND(at, codes.val.reshape([N * k]), [N, width]) as tf.Tensor2D;
  });
}

/** xhat = z W_dec + b_dec, by gathering the k active rows (SIMD) or as a dense matmul (tfjs). */
export function decode(codes: SparseCodes, w: SaeWeights): tf.Tensor2D {
  if (simdRows(w.wDec.shape[1], 'ScalarSparseDecode')) {
    const [xhat] = runScalarKernel('ScalarSparseDecode', {
      idx: codes.idx,
      val: codes.val,
      wDec: w.wDec,
      bDec: w.bDec,
    });
    return xhat as tf.Tensor2D;
  }
  return tf.tidy(() => tf.add(tf.matMul(densify(codes, w.wDec.shape[0]), w.wDec), w.bDec) as tf.Tensor2D);
}

export interface TopkStepResult {
  /** Mean per-token summed squared error (a scalar tensor, read by the caller with the step's other figures). */
  loss: tf.Scalar;
  codes: SparseCodes;
  /** Per-token summed squared error [N]. */
  err: tf.Tensor1D;
  grads: SaeWeights;
}

/**
 * Loss and gradients of one TopK SAE on x [N, D]. `detachBelow`: dictionary rows below this index get no
 * gradient (staircase `detach`). All returned tensors are owned by the caller.
 */
export function topkSaeStep(x: tf.Tensor2D, w: SaeWeights, k: number, detachBelow = 0): TopkStepResult {
  const [N, D] = x.shape;
  if (simdRows(D, 'ScalarTopKSaeBackward') && useKernel('ScalarTopK')) {
    return tidy(() => {
      const codes = encode(x, w, k);
      const [xhat, err] = runScalarKernel('ScalarSparseDecode', {
        idx: codes.idx,
        val: codes.val,
        wDec: w.wDec,
        bDec: w.bDec,
        x,
      });
      const [dWencT, dBenc, dWdec, dBdec] = runScalarKernel(
        'ScalarTopKSaeBackward',
        { x, bDec: w.bDec, idx: codes.idx, val: codes.val, xhat, wDec: w.wDec, wEncT: transpose2d(w.wEnc) },
        { scale: 1 / N, detachBelow },
      );
      const loss = tf.mean(err) as tf.Scalar;
      const grads = {
        wEnc: transpose2d(dWencT as tf.Tensor2D),
        bEnc: dBenc as tf.Tensor1D,
        wDec: dWdec as tf.Tensor2D,
        bDec: dBdec as tf.Tensor1D,
      };
      return { loss, codes, err: err as tf.Tensor1D, grads };
    });
  }
  return tidy(() => {
    const F = w.wDec.shape[0];
    const codes = topk(encodePre(x, w), k);
    const mask = tf.cast(
      tf.greater(densify({ idx: codes.idx, val: tf.onesLike(codes.val) as tf.Tensor2D }, F), 0),
      'float32',
    );
    const detached = (t: tf.Tensor2D, axis: 0 | 1) => {
      if (detachBelow <= 0) return t;
      const [a, b] =
        axis === 0
          ? [t.slice([0, 0], [detachBelow, -1]), t.slice([detachBelow, 0], [-1, -1])]
          : [t.slice([0, 0], [-1, detachBelow]), t.slice([0, detachBelow], [-1, -1])];
      return tf.concat([stopGradient(a), b], axis) as tf.Tensor2D;
    };
    const lossOf = (...p: tf.Tensor[]) => {
      const [wEnc, bEnc, wDec, bDec] = p as [tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D];
      const pre = tf.relu(tf.add(tf.matMul(tf.sub(x, bDec), detached(wEnc, 1)), bEnc));
      const xhat = tf.add(tf.matMul(tf.mul(pre, mask), detached(wDec, 0)), bDec);
      return tf.mean(tf.sum(tf.square(tf.sub(x, xhat)), -1)) as tf.Scalar;
    };
    const { value, grads } = tf.valueAndGrads(lossOf)([w.wEnc, w.bEnc, w.wDec, w.bDec]);
    const xhat = decode(codes, w);
    const err = tf.sum(tf.square(tf.sub(x, xhat)), -1) as tf.Tensor1D;
    return {
      loss: value,
      codes,
      err,
      grads: {
        wEnc: grads[0] as tf.Tensor2D,
        bEnc: grads[1] as tf.Tensor1D,
        wDec: grads[2] as tf.Tensor2D,
        bDec: grads[3] as tf.Tensor1D,
      },
    };
  });
}
