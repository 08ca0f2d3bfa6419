/** Clean activations of a frozen LM at SAE hooks, each flattened to [N, D] (one forward pass, no gradients). */
import * as tf from '@tensorflow/tfjs';
import { tidy } from '../backend.ts';
import type { Gpt } from '../lm/gpt.ts';
import type { Batch } from '../text/index.ts';

export function lmActivations(lm: Gpt, b: Batch, hooks: string[]): Record<string, tf.Tensor2D> {
  return tidy(() => {
    const tokens = tf.tensor2d(b.inputs, [b.batchSize, b.contextLength], 'int32');
    const { cache } = lm.run({ tokens, capture: hooks, stopAt: hooks[hooks.length - 1] });
    const D = lm.config.dModel;
    return Object.fromEntries(hooks.map((h) => [h, cache[h].reshape([-1, D]) as tf.Tensor2D]));
  });
}
