/**
 * The JSAE closed form (SPEC §3.3) against autodiff: J = W_dec_in[K₁] · ∂segment/∂x (at the clean x) ·
 * W_enc_out[:, K₂], with the segment's Jacobian taken by tf.grad row by row; the penalty's gradients against
 * tf.grads of Σ|J| through the same dense formula.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src-main/engine/backend.ts';
import { jacobianPenaltyStep } from '../../src-main/engine/sae/jacobian.ts';
import { SaeSet } from '../../src-main/engine/sae/saeSet.ts';
import { encode } from '../../src-main/engine/sae/topk.ts';
import { Rng } from '../../src-main/engine/random.ts';
import { cases, D, k, segment, segmentJacobian, tinyLm } from './jsae.helpers.ts';

// The reference side needs tf.gather's gradient, which the wasm backend lacks; the SIMD kernels under test
// run on the cpu backend through the staging host.
beforeAll(async () => {
  await initBackend('cpu');
});

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
