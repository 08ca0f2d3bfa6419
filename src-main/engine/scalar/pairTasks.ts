/** The two heavy tasks of a SCALAR pair, run identically on the calling thread or a PairWorker. */
import * as tf from '@tensorflow/tfjs';
import { attributionBatchFast } from './attribution.ts';
import type { PairModel } from './pair.ts';
import type { AttributionOptions } from './plain.ts';

export type PairTask =
  /** pre₁ over `columns` for the segment of decode₀ of the given codes (B sequences × T tokens). */
  | { op: 'preDown'; idx: Int32Array; val: Float32Array; B: number; T: number; columns: Int32Array | null }
  /** One attribution batch: its contribution to M (reference) or A² (textbook). */
  | { op: 'attribution'; tokens: Int32Array; B: number; T: number; options: AttributionOptions };

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
  const tokens = tf.tensor2d(task.tokens, [task.B, task.T], 'int32');
  const clean = pm.clean(tokens);
  try {
    return await attributionBatchFast(pm, clean, task.options);
  } finally {
    tf.dispose([tokens, clean.up, clean.logits, ...Object.values(clean.context)]);
  }
}
