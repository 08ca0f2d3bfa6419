/**
 * Codes of a ReLU / JumpReLU SAE built on the host from its pre-activations, without sorting all F latents of
 * every token: z = pre·1[pre > θ] (topk.ts thresholdCodes) keeps the latents above their threshold; only those
 * are sorted (value descending, lower index first among equals, as tf.topk orders them), and the rows are padded
 * to the largest active count m of the rows with value-0 slots holding the lowest inactive indices — exactly the
 * first m slots of thresholdCodes' F-wide codes, which is what every caller cut them to (compactCodes,
 * compactThresholdCodes). Cost O(F + a log a) per token for a active latents, instead of a sort of F.
 */
import * as tf from '@tensorflow/tfjs';
import { readAndDispose, tidy } from '../backend.ts';
import type { SaeWeights, SparseCodes } from '../sae/topk.ts';

export interface HostCodes {
  idx: Int32Array;
  val: Float32Array;
  /** Slots per row (the largest active count, at least 1). */
  width: number;
}

/** Threshold codes of pre [N, F] (row-major) with θ [F]. */
export function hostThresholdCodes(pre: Float32Array, theta: Float32Array, N: number, F: number): HostCodes {
  const rows: Int32Array[] = [];
  let width = 1;
  for (let n = 0; n < N; n++) {
    const o = n * F;
    let count = 0;
    for (let f = 0; f < F; f++) if (pre[o + f] > theta[f]) count++;
    const active = new Int32Array(count);
    for (let f = 0, a = 0; f < F; f++) if (pre[o + f] > theta[f]) active[a++] = f;
    active.sort((x, y) => pre[o + y] - pre[o + x] || x - y);
    rows.push(active);
    width = Math.max(width, count);
  }
  const idx = new Int32Array(N * width);
  const val = new Float32Array(N * width);
  for (let n = 0; n < N; n++) {
    const active = rows[n];
    const o = n * width;
    active.forEach((f, q) => {
      idx[o + q] = f;
      val[o + q] = pre[n * F + f];
    });
    // Padding: the lowest inactive indices, value 0 (inactive wherever codes are read).
    for (let f = 0, q = active.length; q < width; f++) if (!(pre[n * F + f] > theta[f])) idx[o + q++] = f;
  }
  return { idx, val, width };
}

/**
 * Codes of x [N, D] for an SAE, read to the host: TopK through the engine's own encode (exactly k), a ReLU /
 * JumpReLU SAE through hostThresholdCodes of pre = (x − b_dec) W_enc + b_enc (the same pre-activations).
 */
export async function hostEncode(
  x: tf.Tensor2D,
  w: SaeWeights,
  k: number,
  encode: (x: tf.Tensor2D) => SparseCodes,
): Promise<HostCodes> {
  const N = x.shape[0];
  if (!w.threshold) {
    const codes = encode(x);
    const [idx, val] = await Promise.all([readAndDispose(codes.idx), readAndDispose(codes.val)]);
    return { idx: idx as Int32Array, val: val as Float32Array, width: k };
  }
  const pre = tidy(() => tf.add(tf.matMul(tf.sub(x, w.bDec), w.wEnc), w.bEnc));
  const F = pre.shape[1] as number;
  const [p, theta] = await Promise.all([readAndDispose(pre), w.threshold.data()]);
  return hostThresholdCodes(p as Float32Array, theta as Float32Array, N, F);
}

/** The codes as tensors ([N, width] int32 and float32). */
export function codesTensors(c: HostCodes, N: number): SparseCodes {
  return {
    idx: tf.tensor2d(c.idx, [N, c.width], 'int32'),
    val: tf.tensor2d(c.val, [N, c.width]),
  };
}
