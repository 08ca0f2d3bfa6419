/**
 * Mean cross-entropy per token of a text under a language model (nats): the text's tokens in windows of up to T+1
 * that share one token with the next, so every token after the first is predicted exactly once, with as much
 * context as the window gives it (a perplexity check comparable with other implementations' strided evaluation at
 * stride T).
 */
import * as tf from '@tensorflow/tfjs';
import { readScalar } from '../backend.ts';
import { softmaxCrossEntropy } from '../kernels/ops.ts';
import { tokenWindows } from '../text/textSet.ts';
import type { TokenArray } from '../text/tokenizer.ts';
import type { Gpt } from './gpt.ts';

export interface ScoreResult {
  /** Mean cross-entropy per predicted token, nats. */
  meanCe: number;
  /** Tokens predicted (the text's tokens less the first). */
  tokens: number;
  windows: number;
}

export interface ScoreOptions {
  /** Windows per forward pass (default 8). */
  batchSize?: number;
  /** Stop after about this many predicted tokens. */
  maxTokens?: number;
  onProgress?: (tokens: number) => void;
}

/** Scores a token stream; a token id outside the model's vocabulary is an error. */
export async function scoreTokens(
  gpt: Gpt,
  chunks: Iterable<TokenArray>,
  options: ScoreOptions = {},
): Promise<ScoreResult> {
  const T = gpt.config.contextLength;
  const V = gpt.config.vocabSize;
  const batchSize = options.batchSize ?? 8;
  let sum = 0;
  let tokens = 0;
  let windows = 0;
  let batch: Int32Array[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const L = batch[0].length;
    const B = batch.length;
    const inputs = new Int32Array(B * (L - 1));
    const targets = new Int32Array(B * (L - 1));
    batch.forEach((w, b) => {
      inputs.set(w.subarray(0, L - 1), b * (L - 1));
      targets.set(w.subarray(1), b * (L - 1));
    });
    const loss = tf.tidy(() => {
      const logits = gpt.forward(tf.tensor2d(inputs, [B, L - 1], 'int32'));
      return softmaxCrossEntropy(logits.reshape([-1, V]) as tf.Tensor2D, tf.tensor1d(targets, 'int32'));
    });
    const n = B * (L - 1);
    sum += (await readScalar(loss)) * n;
    tokens += n;
    windows += B;
    batch = [];
    options.onProgress?.(tokens);
  };
  for (const w of tokenWindows(chunks, T + 1, { stride: T, keepPartial: true })) {
    for (let i = 0; i < w.length; i++)
      if (w[i] < 0 || w[i] >= V)
        throw new Error(`the text has token id ${w[i]}, outside the model's vocabulary of ${V}`);
    if (batch.length && batch[0].length !== w.length) await flush();
    batch.push(w);
    if (batch.length === batchSize) await flush();
    if (options.maxTokens !== undefined && tokens + batch.length * T >= options.maxTokens) break;
  }
  await flush();
  if (tokens === 0) throw new Error('the text has fewer than two tokens: nothing to score');
  return { meanCe: sum / tokens, tokens, windows };
}
