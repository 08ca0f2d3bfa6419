/**
 * The JSAE test fixtures shared by the closed-form tests (cpu: test/unit/jsae.test.ts; webgpu:
 * test/webgpu/jacobian.webgpu.test.ts): a one-layer LM with non-trivial norm gains, its segment as a function,
 * and the segment's Jacobian by autodiff (the independent side of every JSAE test).
 */
import * as tf from '@tensorflow/tfjs';
import { GptConfigSchema } from '../../src-shared/lm.ts';
import { dyt, gelu, layerNorm, linear } from '../../src-main/engine/kernels/ops.ts';
import { Gpt } from '../../src-main/engine/lm/gpt.ts';
import { Rng } from '../../src-main/engine/random.ts';

export const D = 8;
export const k = 3;

export function tinyLm(norm2: 'layernorm' | 'dyt', seed: number): Gpt {
  const gpt = Gpt.init(
    GptConfigSchema.parse({
      vocabSize: 11,
      contextLength: 4,
      dModel: D,
      nLayer: 1,
      nHead: 2,
      dMlp: 16,
      norm2,
      dytAlphaInit: 0.7,
    }),
    seed,
  );
  // Non-trivial norm gains and biases so γ and β matter in the Jacobian.
  const rng = new Rng(seed + 1);
  for (const name of ['h.0.ln_2.weight', 'h.0.ln_2.bias', 'h.0.mlp.c_fc.bias']) {
    const v = gpt.params[name];
    v.assign(tf.add(v, tf.tensor(rng.normalArray(v.size, 0.3), v.shape)));
  }
  for (const name of ['h.0.mlp.c_fc.weight', 'h.0.mlp.c_proj.weight']) {
    const v = gpt.params[name];
    v.assign(tf.tensor(rng.normalArray(v.size, 0.4), v.shape));
  }
  return gpt;
}

/** The segment as a function of its input row x [D] (mlp: MLP(x); ffblock: x + MLP(LN2(x))). */
export function segment(gpt: Gpt, segmentKind: 'mlp' | 'ffblock', x: tf.Tensor2D): tf.Tensor2D {
  const p = (n: string) => gpt.params[`h.0.${n}`];
  const m =
    segmentKind === 'mlp'
      ? x
      : gpt.config.norm2 === 'dyt'
        ? dyt(x, p('ln_2.alpha'), p('ln_2.weight') as tf.Tensor1D, p('ln_2.bias') as tf.Tensor1D)
        : layerNorm(x, p('ln_2.weight') as tf.Tensor1D, p('ln_2.bias') as tf.Tensor1D, gpt.config.lnEps);
  const y = linear(
    gelu(linear(m, p('mlp.c_fc.weight') as tf.Tensor2D, p('mlp.c_fc.bias') as tf.Tensor1D)),
    p('mlp.c_proj.weight') as tf.Tensor2D,
    p('mlp.c_proj.bias') as tf.Tensor1D,
  );
  return (segmentKind === 'mlp' ? y : tf.add(x, y)) as tf.Tensor2D;
}

/** ∂segment(x)/∂x at one token, [D_in, D_out], by tf.grad of each output coordinate (row-vector convention). */
export function segmentJacobian(gpt: Gpt, kind: 'mlp' | 'ffblock', x: tf.Tensor2D): tf.Tensor2D {
  const cols = [];
  for (let o = 0; o < D; o++) {
    const grad = tf.grad((xx: tf.Tensor) =>
      tf.sum(tf.mul(segment(gpt, kind, xx as tf.Tensor2D), tf.oneHot([o], D))),
    )(x);
    cols.push(grad.reshape([D]));
  }
  return tf.stack(cols, 1) as tf.Tensor2D;
}

export const cases = [
  {
    name: 'fflayer (GELU MLP)',
    setup: 'fflayer' as const,
    norm2: 'layernorm' as const,
    kind: 'mlp' as const,
  },
  { name: 'ffblock with DyT', setup: 'ffblock' as const, norm2: 'dyt' as const, kind: 'ffblock' as const },
  {
    name: 'ffblock with LayerNorm',
    setup: 'ffblock' as const,
    norm2: 'layernorm' as const,
    kind: 'ffblock' as const,
  },
];
