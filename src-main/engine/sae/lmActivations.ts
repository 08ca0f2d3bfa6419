/**
 * Clean activations of a frozen LM at SAE hooks, each flattened to [N, D] (no gradients). The forward runs one
 * block at a time, each in its own scope, so only one block's intermediates (at context T the attention scores
 * [B, H, T, T]) are alive at once, never the whole network's; the values are those of one full pass (same ops).
 */
import * as tf from '@tensorflow/tfjs';
import { tidy } from '../backend.ts';
import { BLOCK_STAGES, parseHook, type BlockStage, type Gpt } from '../lm/gpt.ts';
import type { Batch } from '../text/index.ts';

export function lmActivations(lm: Gpt, b: Batch, hooks: string[]): Record<string, tf.Tensor2D> {
  const { nLayer, dModel: D } = lm.config;
  const at = hooks.map((x) => ({ hook: x, ...parseHook(x, nLayer) }));
  if (at.some((p) => p.layer >= nLayer))
    throw new Error(`lmActivations: only block hooks can be captured (got ${hooks.join(', ')})`);
  const last = Math.max(...at.map((p) => p.layer));
  const out: Record<string, tf.Tensor2D> = {};
  // h: the residual stream entering block l, [B, T, D]
  let h: tf.Tensor3D | null = tidy(() =>
    lm.embed(tf.tensor2d(b.inputs, [b.batchSize, b.contextLength], 'int32')),
  );
  try {
    for (let l = 0; l <= last; l++) {
      const mine = at.filter((p) => p.layer === l);
      const order = (p: { stage: string }) => BLOCK_STAGES.indexOf(p.stage as BlockStage);
      const lastHere = mine.reduce((a, p) => (order(p) > order(a) ? p : a), mine[0] ?? null);
      const stopAt = l === last ? lastHere!.hook : `blocks.${l}.hook_resid_post`;
      const next: { acts: Record<string, tf.Tensor2D>; post: tf.Tensor3D | null } = tidy(() => {
        const { cache } = lm.run({
          from: { hook: `blocks.${l}.hook_resid_pre`, value: h! },
          capture: [...mine.map((p) => p.hook), `blocks.${l}.hook_resid_post`],
          stopAt,
        });
        const acts = Object.fromEntries(
          mine.map((p) => [p.hook, cache[p.hook].reshape([-1, D]) as tf.Tensor2D]),
        );
        return { acts, post: l === last ? null : cache[`blocks.${l}.hook_resid_post`] };
      });
      Object.assign(out, next.acts);
      h!.dispose();
      h = next.post;
    }
    return Object.fromEntries(hooks.map((x) => [x, out[x]]));
  } catch (err) {
    tf.dispose(Object.values(out));
    throw err;
  } finally {
    h?.dispose();
  }
}
