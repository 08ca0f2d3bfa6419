/** The two heavy tasks of a SCALAR pair, run identically on the calling thread or a PairWorker. */
import * as tf from '@tensorflow/tfjs';
import { readAndDispose, tidy } from '../backend.ts';
import { attributionBatchFast } from './attribution.ts';
import type { PairModel } from './pair.ts';
import type { AttributionOptions } from './plain.ts';

export type PairTask =
  /** pre₁ over `columns` for the segment of decode₀ of the given codes (B sequences × T tokens). */
  | { op: 'preDown'; idx: Int32Array; val: Float32Array; B: number; T: number; columns: Int32Array | null }
  /** One attribution batch: its contribution to M (reference) or A² (textbook). */
  | { op: 'attribution'; tokens: Int32Array; B: number; T: number; options: AttributionOptions }
  /**
   * Low-rank finish (lowRank.ts) for upstream latents i0 … i1−1: Y = W_dec₀[i0:i1] · rowsᵀ, rows [pc, D], and
   * Σ Y² per column group colOf [pc] (0 … cc−1), [(i1 − i0), cc] summed in float64, returned as float32.
   */
  | { op: 'lowRankSquares'; rows: Float32Array; colOf: Int32Array; cc: number; i0: number; i1: number };

export async function runPairTask(pm: PairModel, task: PairTask): Promise<Float32Array> {
  if (task.op === 'preDown') {
    // Slots per token: k for TopK; for a ReLU / JumpReLU SAE₀ the padded width of the evaluator's codes.
    const width = task.idx.length / (task.B * task.T);
    const codes = {
      idx: tf.tensor2d(task.idx, [task.B * task.T, width], 'int32'),
      val: tf.tensor2d(task.val, [task.B * task.T, width]),
    };
    try {
      return await pm.preDownOfCodes(codes, task.B, task.T, task.columns ?? undefined);
    } finally {
      tf.dispose([codes.idx, codes.val]);
    }
  }
  if (task.op === 'lowRankSquares') return lowRankSquares(pm, task);
  const tokens = tf.tensor2d(task.tokens, [task.B, task.T], 'int32');
  const clean = pm.clean(tokens);
  try {
    return await attributionBatchFast(pm, clean, task.options);
  } finally {
    tf.dispose([tokens, clean.up, clean.logits, ...Object.values(clean.context)]);
  }
}

async function lowRankSquares(
  pm: PairModel,
  t: Extract<PairTask, { op: 'lowRankSquares' }>,
): Promise<Float32Array> {
  const D = pm.D;
  const pc = t.colOf.length;
  const rowsOf = t.i1 - t.i0;
  const y = (await readAndDispose(
    tidy(() =>
      tf.matMul(pm.up.w.wDec.slice([t.i0, 0], [rowsOf, D]), tf.tensor2d(t.rows, [pc, D]), false, true),
    ),
  )) as Float32Array; // [i1 − i0, pc]
  const acc = new Float64Array(rowsOf * t.cc);
  for (let i = 0; i < rowsOf; i++) {
    const row = i * pc;
    const out = i * t.cc;
    for (let q = 0; q < pc; q++) acc[out + t.colOf[q]] += y[row + q] * y[row + q];
  }
  return new Float32Array(acc);
}
