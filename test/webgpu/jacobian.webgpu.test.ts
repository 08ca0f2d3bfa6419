/**
 * The JSAE Jacobian penalty's WGSL twin on a real WebGPU adapter (SwiftShader in CI), for the three segment
 * modes: the penalty step (value and gradients) against the composite tfjs formulation on the same backend —
 * the segment's Jacobian by tf.grad, J = W_dec_in[K₁]·Jseg·W_enc_out[:, K₂] over the active latents and the
 * gradients of λΣ|J|/k² by tf.grads — with inactive slots in the codes; then determinism: two runs and a run
 * split into token chunks give bit-identical outputs.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { setKernelMode, useKernel } from '../../src-main/engine/kernels/ops.ts';
import { hostFallbackCounts, runScalarKernel } from '../../src-main/engine/kernels/registry.ts';
import { Rng } from '../../src-main/engine/random.ts';
import { jacobianPenaltyStep } from '../../src-main/engine/sae/jacobian.ts';
import { SaeSet } from '../../src-main/engine/sae/saeSet.ts';
import { encode, type SparseCodes } from '../../src-main/engine/sae/topk.ts';
import { takeGpuErrors } from '../../src-main/engine/webgpu/device.ts';
import { cases, D, k, segment, segmentJacobian, tinyLm } from '../unit/jsae.helpers.ts';
import { initWebGpu } from './webgpu.helpers.ts';

beforeAll(async () => {
  expect((await initWebGpu()).name).toBe('webgpu');
});

afterEach(() => {
  setKernelMode(null);
  expect(takeGpuErrors()).toEqual([]);
});

/** max |a − b| / max |b|. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 1e-12;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

/** Codes with every third token's slot (n mod k) switched off: inactive slots must not contribute. */
async function withInactive(c: SparseCodes): Promise<SparseCodes> {
  const val = (await c.val.array()) as number[][];
  val.forEach((row, n) => {
    if (n % 3 === 0) row[n % k] = 0;
  });
  return { ...c, val: tf.tensor2d(val) };
}

describe('JSAE penalty: WGSL twin against the autodiff Jacobian (composite tfjs)', () => {
  it('is registered for webgpu', () => {
    expect(useKernel('ScalarJacobianPenalty')).toBe(true);
  });

  for (const c of cases) {
    it(c.name, async () => {
      const gpt = tinyLm(c.norm2, 7);
      const set = new SaeSet({ arch: 'jsae', setup: c.setup, width: 12, k, dModel: D, nLayer: 1, seed: 3 });
      const pair = set.pairs[0];
      const rng = new Rng(11);
      const N = 13;
      const xUp = tf.tensor2d(rng.normalArray(N * D), [N, D]);
      const xDown = segment(gpt, c.kind, xUp);
      const up = set.view(pair.up);
      const down = set.view(pair.down);
      const codes = {
        [pair.up]: await withInactive(encode(xUp, set.weights(up), k)),
        [pair.down]: await withInactive(encode(xDown, set.weights(down), k)),
      };
      const lambda = 0.37;
      const step = await jacobianPenaltyStep(gpt, set, pair, { [pair.up]: xUp, [pair.down]: xDown }, codes, {
        lambda,
        norm: 'sum',
      });
      // The WGSL twin ran: nothing went through the CPU fallback that reads tensors back.
      expect(hostFallbackCounts().ScalarJacobianPenalty).toBeUndefined();
      const oursSum = (await step.sumAbs.data())[0];
      const gradOf = (v: tf.Variable) => step.grads.find(([w]) => w === v)![1].data();
      const [oursDec, oursEnc] = await Promise.all([gradOf(up.dict.wDec), gradOf(down.dict.wEnc)]);

      // The oracle: composite tfjs ops only (no Scalar* kernel), dense per-token Jacobians.
      setKernelMode('tfjs');
      const [idx1, val1, idx2, val2] = (await Promise.all(
        [codes[pair.up].idx, codes[pair.up].val, codes[pair.down].idx, codes[pair.down].val].map((t) =>
          t.array(),
        ),
      )) as number[][][];
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
      const refSum = (await sumAbs(up.dict.wDec, down.dict.wEnc).data())[0];
      const [gDec, gEnc] = tf.grads(
        (a: tf.Tensor, b: tf.Tensor) => tf.mul(sumAbs(a, b), lambda) as tf.Scalar,
      )([up.dict.wDec, down.dict.wEnc]);
      expect(refSum).toBeGreaterThan(0);
      // Σ|J|/k² over tokens: f32 sums of a few hundred terms, relative 1e-5.
      expect(Math.abs(oursSum - refSum) / refSum).toBeLessThan(1e-5);
      expect(oursSum * step.penaltyPerSum).toBeCloseTo(lambda * refSum, 4);
      // Gradients: the closed form against autodiff through the dense Jacobian, relative 1e-4 (as on cpu).
      expect(relErr(oursDec, await gDec.data())).toBeLessThan(1e-4);
      expect(relErr(oursEnc, await gEnc.data())).toBeLessThan(1e-4);
      gpt.dispose();
      set.dispose();
    });
  }
});

describe('JSAE penalty: deterministic, and independent of the token chunking', () => {
  const N = 19;
  const K = 4;
  const Dm = 12;
  const M = 20;
  const F1 = 9;
  const F2 = 11;

  /** Random but valid kernel inputs (distinct latents per token, some inactive slots) for `mode`. */
  function inputs(mode: number, seed: number): Record<string, tf.Tensor> {
    const rng = new Rng(seed);
    const codes = (F: number) => {
      const idx: number[] = [];
      const val: number[] = [];
      for (let n = 0; n < N; n++) {
        const perm = Array.from({ length: F }, (_, f) => f).sort(() => rng.uniform() - 0.5);
        for (let s = 0; s < K; s++) {
          idx.push(perm[s]);
          val.push((n + s) % 5 === 0 ? 0 : 0.1 + rng.uniform());
        }
      }
      return [tf.tensor2d(idx, [N, K], 'int32'), tf.tensor2d(val, [N, K])];
    };
    const t = (shape: number[]) => tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape);
    const [idx1, val1] = codes(F1);
    const [idx2, val2] = codes(F2);
    const inp: Record<string, tf.Tensor> = {
      idx1,
      val1,
      idx2,
      val2,
      rows: t([F1, mode === 0 ? M : Dm]),
      wFc: t([Dm, M]),
      cT: t([F2, M]),
      g: t([N, M]),
    };
    if (mode !== 0) inp.skipT = t([F2, Dm]);
    if (mode !== 0) inp.norm = t([N, Dm]);
    if (mode === 2) {
      inp.rstd = tf.abs(t([N]));
      inp.q = t([F1, M]);
      inp.c0 = t([M]);
      inp.z = t([N, M]);
    }
    return inp;
  }

  async function run(inp: Record<string, tf.Tensor>, attrs: Record<string, number>): Promise<Float32Array[]> {
    const outs = runScalarKernel('ScalarJacobianPenalty', inp, attrs);
    try {
      return (await Promise.all(outs.map((o) => o.data()))) as Float32Array[];
    } finally {
      tf.dispose(outs);
    }
  }

  for (const mode of [0, 1, 2]) {
    it(`mode ${mode}: two runs and a run in chunks of 2 and 7 tokens are bit-identical`, async () => {
      const inp = inputs(mode, 5 + mode);
      const attrs = { mode, coef: 0.01 };
      const a = await run(inp, attrs);
      const b = await run(inp, attrs);
      const c2 = await run(inp, { ...attrs, chunkTokens: 2 });
      const c7 = await run(inp, { ...attrs, chunkTokens: 7 });
      expect(a[3][0]).toBeGreaterThan(0); // the total
      for (const other of [b, c2, c7])
        other.forEach((o, i) => expect(Array.from(o), `output ${i}`).toEqual(Array.from(a[i])));
      tf.dispose(Object.values(inp));
    });
  }
});
