/**
 * The LM validation loss of the `fixed-v1` protocol: mean cross-entropy (nats/token) over a validation token set
 * chosen without the batch size (text/evalWindows.ts), computed in chunks of at most `chunk` windows. Per-token
 * losses come back and are summed in float64 in window order, so the number does not depend on how the windows
 * were chunked (beyond float32 rounding inside each forward pass).
 */
import * as tf from '@tensorflow/tfjs';
import { readAndDispose } from '../backend.ts';
import { evalChunks, type EvalWindows, type TokenSplit } from '../text/index.ts';
import type { Gpt } from './gpt.ts';

/** −log softmax(logits)[target] per row, without a one-hot (a GPT-2 vocabulary would make it huge). */
export function tokenCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const [N, V] = logits.shape;
    const flatIdx = tf.add(tf.mul(tf.range(0, N, 1, 'int32'), tf.scalar(V, 'int32')), targets);
    const picked = tf.gather(logits.reshape([-1]), flatIdx);
    return tf.sub(tf.logSumExp(logits, -1), picked) as tf.Tensor1D;
  });
}

export interface ValidationLoss {
  loss: number;
  /** Targets scored. */
  tokens: number;
}

export async function validationLoss(
  gpt: Gpt,
  split: TokenSplit,
  windows: EvalWindows,
  chunk: number,
): Promise<ValidationLoss> {
  const T = windows.contextLength;
  let sum = 0;
  let tokens = 0;
  for (const { batch, scoreFrom } of evalChunks(split, windows, chunk)) {
    const perToken = tf.tidy(() => {
      const x = tf.tensor2d(batch.inputs, [batch.batchSize, T], 'int32');
      const logits = gpt.forward(x).reshape([-1, gpt.config.vocabSize]) as tf.Tensor2D;
      return tokenCrossEntropy(logits, tf.tensor1d(batch.targets, 'int32'));
    });
    const values = await readAndDispose(perToken);
    for (let b = 0; b < batch.batchSize; b++) {
      for (let t = scoreFrom[b]; t < T; t++) sum += values[b * T + t];
      tokens += T - scoreFrom[b];
    }
  }
  if (tokens !== windows.tokens) throw new Error(`scored ${tokens} tokens, expected ${windows.tokens}`);
  return { loss: sum / tokens, tokens };
}
