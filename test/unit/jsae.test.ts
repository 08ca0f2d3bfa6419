/**
 * The JSAE closed form (SPEC §3.3) against autodiff: J = W_dec_in[K₁] · ∂segment/∂x (at the clean x) ·
 * W_enc_out[:, K₂], with the segment's Jacobian taken by tf.grad row by row; the penalty's gradients against
 * tf.grads of Σ|J| through the same dense formula.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { GptConfigSchema } from '../../src-shared/lm.ts';
import { initBackend } from '../../src-main/engine/backend.ts';
import { dyt, gelu, layerNorm, linear } from '../../src-main/engine/kernels/ops.ts';
import { Gpt } from '../../src-main/engine/lm/gpt.ts';
import { jacobianPenaltyStep } from '../../src-main/engine/sae/jacobian.ts';
import { SaeSet } from '../../src-main/engine/sae/saeSet.ts';
import { encode } from '../../src-main/engine/sae/topk.ts';
import { Rng } from '../../src-main/engine/random.ts';

// The reference side needs tf.gather's gradient, which the wasm backend lacks; the SIMD kernels under test
// run on the cpu backend through the staging host.
beforeAll(async () => {
  await initBackend('cpu');
});

const D = 8;
const k = 3;

function tinyLm(norm2: 'layernorm' | 'dyt', seed: number): Gpt {
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
function segment(gpt: Gpt, segmentKind: 'mlp' | 'ffblock', x: tf.Tensor2D): tf.Tensor2D {
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
function segmentJacobian(gpt: Gpt, kind: 'mlp' | 'ffblock', x: tf.Tensor2D): tf.Tensor2D {
  const cols = [];
  for (let o = 0; o < D; o++) {
    const grad = tf.grad((xx: tf.Tensor) =>
      tf.sum(tf.mul(segment(gpt, kind, xx as tf.Tensor2D), tf.oneHot([o], D))),
    )(x);
    cols.push(grad.reshape([D]));
  }
  return tf.stack(cols, 1) as tf.Tensor2D;
}

const cases = [
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

describe('JSAE closed-form Jacobian', () => {
  for (const c of cases) {
    it(`equals the autodiff Jacobian and its penalty gradient: ${c.name}`, async () => {
      const gpt = tinyLm(c.norm2, 7);
      const set = new SaeSet({ arch: 'jsae', setup: c.setup, width: 12, k, dModel: D, nLayer: 1, seed: 3 });
      const pair = set.pairs[0];
      const rng = new Rng(11);
      const N = 5;
      const xUp = tf.tensor2d(rng.normalArray(N * D), [N, D]);
      const xDown = segment(gpt, c.kind, xUp);
      const up = set.view(pair.up);
      const down = set.view(pair.down);
      const codes = {
        [pair.up]: encode(xUp, set.weights(up), k),
        [pair.down]: encode(xDown, set.weights(down), k),
      };
      const lambda = 0.37;
      const step = await jacobianPenaltyStep(gpt, set, pair, { [pair.up]: xUp, [pair.down]: xDown }, codes, {
        lambda,
        norm: 'sum',
      });

      // Reference: J_n = W_dec_in[K₁] · Jseg(x_n) · W_enc_out[:, K₂] over the active latents.
      const idx1 = codes[pair.up].idx.arraySync() as number[][];
      const val1 = codes[pair.up].val.arraySync() as number[][];
      const idx2 = codes[pair.down].idx.arraySync() as number[][];
      const val2 = codes[pair.down].val.arraySync() as number[][];
      const jsegs = Array.from({ length: N }, (_, n) =>
        segmentJacobian(gpt, c.kind, xUp.slice([n, 0], [1, D]) as tf.Tensor2D),
      );
      const sumAbs = (wDec: tf.Tensor, wEnc: tf.Tensor) => {
        let total: tf.Tensor = tf.scalar(0);
        for (let n = 0; n < N; n++) {
          const K1 = idx1[n].filter((_, j) => val1[n][j] > 0);
          const K2 = idx2[n].filter((_, j) => val2[n][j] > 0);
          if (!K1.length || !K2.length) continue;
          const J = tf.matMul(tf.matMul(tf.gather(wDec, K1), jsegs[n]), tf.gather(wEnc, K2, 1));
          total = tf.add(total, tf.sum(tf.abs(J)));
        }
        return tf.div(total, k * k);
      };
      const refL1 = sumAbs(up.dict.wDec, down.dict.wEnc).dataSync()[0] / N;
      const stepSum = step.sumAbs.dataSync()[0];
      expect(step.tokens).toBe(N);
      expect(stepSum / N).toBeGreaterThan(0);
      expect(stepSum / N).toBeCloseTo(refL1, 5); // jacobian_l1
      expect(stepSum * step.penaltyPerSum).toBeCloseTo(lambda * refL1 * N, 4); // penalty, sum convention

      // The cpu backend has the gather gradient (UnsortedSegmentSum) the wasm backend lacks.
      const [gDec, gEnc] = tf.grads(
        (a: tf.Tensor, b: tf.Tensor) => tf.mul(sumAbs(a, b), lambda) as tf.Scalar,
      )([up.dict.wDec, down.dict.wEnc]);
      const [ours] = step.grads.filter(([v]) => v === up.dict.wDec).map(([, g]) => g);
      const [oursEnc] = step.grads.filter(([v]) => v === down.dict.wEnc).map(([, g]) => g);
      const close = (a: tf.Tensor, b: tf.Tensor) =>
        tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] / (tf.max(tf.abs(b)).dataSync()[0] + 1e-12);
      expect(close(ours, gDec)).toBeLessThan(1e-4);
      expect(close(oursEnc, gEnc)).toBeLessThan(1e-4);
      gpt.dispose();
      set.dispose();
    });
  }
});
