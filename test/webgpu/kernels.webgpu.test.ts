/**
 * The WGSL kernels on a real WebGPU adapter (SwiftShader in CI): each against the composite tfjs formulation on
 * the same backend (SCALAR_KERNELS=tfjs's path) and against float64 references, values and gradients; TopK
 * against an explicit stable sort including ties; determinism run to run. Sizes are small (software adapter)
 * and deliberately not multiples of the workgroup sizes.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { causalSelfAttention, gelu, setKernelMode, useKernel } from '../../src-main/engine/kernels/ops.ts';
import { runScalarKernel } from '../../src-main/engine/kernels/registry.ts';
import { AdamW, decayMatricesOnly } from '../../src-main/engine/optim.ts';
import { decode, encode, topkSaeStep, type SaeWeights } from '../../src-main/engine/sae/topk.ts';
import { takeGpuErrors } from '../../src-main/engine/webgpu/device.ts';
import { WGSL_KERNELS } from '../../src-main/engine/webgpu/kernels.ts';
import { attention64, expectClose, gelu64, TestRng } from '../unit/lm.helpers.ts';
import {
  preActivations64,
  randomSae,
  selectionMargin,
  stableTopk,
  toSae64,
  topkSae64,
} from '../unit/sae.helpers.ts';
import { initWebGpu } from './webgpu.helpers.ts';

beforeAll(async () => {
  const r = await initWebGpu();
  expect(r.name).toBe('webgpu');
});

afterEach(() => {
  setKernelMode(null);
  expect(takeGpuErrors()).toEqual([]);
});

const read = async (t: tf.Tensor) => Array.from(await t.data());

/** Runs `fn` with the WGSL kernels or the composite formulation; tensors it returns are read, all freed. */
async function inMode(mode: 'wgsl' | 'tfjs', fn: () => tf.Tensor[]): Promise<number[][]> {
  setKernelMode(mode === 'tfjs' ? 'tfjs' : null);
  const outs = tf.tidy(fn);
  try {
    return await Promise.all(outs.map(read));
  } finally {
    tf.dispose(outs);
    setKernelMode(null);
  }
}

const weightsOf = (p: ReturnType<typeof randomSae>, D: number, F: number): SaeWeights => ({
  wEnc: tf.tensor2d(p.wEnc, [D, F]),
  bEnc: tf.tensor1d(p.bEnc),
  wDec: tf.tensor2d(p.wDec, [F, D]),
  bDec: tf.tensor1d(p.bDec),
});

describe('registration', () => {
  it('the hot kernels have WGSL twins that the ops use on webgpu', () => {
    for (const k of [
      'ScalarTopK',
      'ScalarSparseDecode',
      'ScalarTopKSaeBackward',
      'ScalarAdamW',
      'ScalarAttention',
      'ScalarAttentionGrad',
      'ScalarGelu',
      'ScalarGeluGrad',
      'ScalarJacobianPenalty',
      'ScalarJacobianRows',
      'ScalarIgAccumulateLocal',
    ]) {
      expect(WGSL_KERNELS).toContain(k);
      expect(useKernel(k)).toBe(true);
    }
    // The SIMD-only kernels are not registered here (their ops take the composite path).
    expect(useKernel('ScalarLayerNorm')).toBe(false);
  });
});

describe('TopK select', () => {
  for (const { N, F, k, relu, bias, ties } of [
    { N: 37, F: 50, k: 5, relu: true, bias: true, ties: false },
    { N: 9, F: 130, k: 33, relu: false, bias: false, ties: false },
    { N: 11, F: 40, k: 7, relu: true, bias: true, ties: true },
    { N: 3, F: 12, k: 12, relu: false, bias: true, ties: true },
  ]) {
    it(`N=${N} F=${F} k=${k} relu=${relu} bias=${bias}${ties ? ' with ties' : ''}`, async () => {
      const rng = new TestRng(N * F + k);
      // Ties: values on a coarse grid, so equal values are common and the lower index must win.
      const xw = Float32Array.from(rng.normals(N * F), (v) => (ties ? Math.round(v * 2) / 2 : v));
      const b = Float32Array.from(rng.normals(F, 0.3), (v) => (ties ? Math.round(v * 2) / 2 : v));
      const outs = tf.tidy(() =>
        runScalarKernel(
          'ScalarTopK',
          bias ? { xw: tf.tensor2d(xw, [N, F]), bEnc: tf.tensor1d(b) } : { xw: tf.tensor2d(xw, [N, F]) },
          { topk: k, relu: relu ? 1 : 0 },
        ),
      );
      const [idx, val] = await Promise.all(outs.map(read));
      tf.dispose(outs);
      for (let n = 0; n < N; n++) {
        const row = Array.from({ length: F }, (_, f) => {
          let v = Math.fround(xw[n * F + f] + (bias ? b[f] : 0));
          if (relu) v = Math.max(v, 0);
          return v;
        });
        const ref = stableTopk(row, k);
        expect(idx.slice(n * k, (n + 1) * k), `row ${n} indices`).toEqual(ref.idx);
        expect(val.slice(n * k, (n + 1) * k), `row ${n} values`).toEqual(ref.val);
      }
    });
  }
});

describe('TopK SAE: encode, sparse decode and backward against the composite formulation', () => {
  const N = 21;
  const D = 8;
  const F = 24;
  const k = 3;

  it('encode and decode match', async () => {
    const rng = new TestRng(3);
    const p = randomSae(rng, D, F, 0.2);
    const x = rng.normals(N * D);
    const run = (mode: 'wgsl' | 'tfjs') =>
      inMode(mode, () => {
        const w = weightsOf(p, D, F);
        const codes = encode(tf.tensor2d(x, [N, D]), w, k);
        return [codes.idx, codes.val, decode(codes, w)];
      });
    const [g, c] = [await run('wgsl'), await run('tfjs')];
    expect(g[0]).toEqual(c[0]);
    expectClose(g[1], c[1], { atolRel: 1e-6 }, 'values');
    expectClose(g[2], c[2], { atolRel: 1e-6 }, 'decode');
  });

  for (const detachBelow of [0, 10]) {
    it(`loss and gradients match autodiff (detachBelow ${detachBelow}), bit-identical run to run`, async () => {
      const rng = new TestRng(7 + detachBelow);
      const p = randomSae(rng, D, F, 0.2);
      const x = rng.normals(N * D);
      const run = (mode: 'wgsl' | 'tfjs') =>
        inMode(mode, () => {
          const s = topkSaeStep(tf.tensor2d(x, [N, D]), weightsOf(p, D, F), k, detachBelow);
          return [s.loss, s.err, s.grads.wEnc, s.grads.bEnc, s.grads.wDec, s.grads.bDec];
        });
      const g = await run('wgsl');
      const c = await run('tfjs');
      const names = ['loss', 'err', 'dWenc', 'dBenc', 'dWdec', 'dBdec'];
      names.forEach((name, i) => expectClose(g[i], c[i], { atolRel: 2e-5 }, name));
      // Gradient reaches the learnable rows (not vacuous), none reaches the detached ones.
      expect(Math.max(...g[4].slice(detachBelow * D).map(Math.abs))).toBeGreaterThan(1e-3);
      if (detachBelow) expect(g[4].slice(0, detachBelow * D).every((v) => v === 0)).toBe(true);
      const again = await run('wgsl');
      again.forEach((a, i) => expect(a, `${names[i]} deterministic`).toEqual(g[i]));
    });
  }

  it('a batch with more entries than one sort block, and latents nobody picks (against float64)', async () => {
    // The composite path's tf.topk is very slow on a software adapter: the reference here is the float64 SAE.
    const n = 300;
    const F2 = 600;
    const rng = new TestRng(11);
    const p = randomSae(rng, D, F2, 0.2);
    const x = rng.normals(n * D);
    expect(selectionMargin(preActivations64(x, D, F2, toSae64(p)), F2, 4)).toBeGreaterThan(1e-5);
    const [loss, dWenc, dBenc, dWdec, dBdec] = await inMode('wgsl', () => {
      const s = topkSaeStep(tf.tensor2d(x, [n, D]), weightsOf(p, D, F2), 4);
      return [s.loss, s.grads.wEnc, s.grads.bEnc, s.grads.wDec, s.grads.bDec];
    });
    const ref = topkSae64(x, D, F2, 4, toSae64(p));
    expect(Math.abs(loss[0] - ref.loss) / ref.loss).toBeLessThan(1e-5);
    expectClose(dWenc, ref.grads.wEnc, { atolRel: 2e-5 }, 'dWenc');
    expectClose(dBenc, ref.grads.bEnc, { atolRel: 2e-5 }, 'dBenc');
    expectClose(dWdec, ref.grads.wDec, { atolRel: 2e-5 }, 'dWdec');
    expectClose(dBdec, ref.grads.bDec, { atolRel: 2e-5 }, 'dBdec');
    // Most latents are picked by nobody here: their rows are exactly zero.
    const zeroRows = Array.from({ length: F2 }, (_, f) =>
      dWdec.slice(f * D, (f + 1) * D).every((v) => v === 0),
    );
    expect(zeroRows.filter(Boolean).length).toBeGreaterThan(0);
  });
});

describe('fused AdamW', () => {
  it('matches the composite update over steps with clipping and decay', async () => {
    const run = async (mode: 'wgsl' | 'tfjs') => {
      setKernelMode(mode === 'tfjs' ? 'tfjs' : null);
      const rng = new TestRng(5);
      const params = {
        w: tf.variable(tf.tensor2d(rng.normals(6 * 10), [6, 10])),
        b: tf.variable(tf.tensor1d(rng.normals(7))),
      };
      const opt = new AdamW(params, {
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-8,
        weightDecay: decayMatricesOnly(0.1),
      });
      for (let step = 1; step <= 4; step++) {
        const big = step % 2 === 1 ? 30 : 0.05;
        const grads = Object.fromEntries(
          Object.entries(params).map(([n, q]) => [n, tf.tensor(rng.normals(q.size, big), q.shape)]),
        );
        await opt.apply(grads, 1e-2, 1.0);
        tf.dispose(Object.values(grads));
      }
      const out = await Promise.all(
        [...Object.values(params), ...Object.values(opt.m), ...Object.values(opt.v)].map(read),
      );
      opt.dispose();
      tf.dispose(Object.values(params));
      setKernelMode(null);
      return out;
    };
    const g = await run('wgsl');
    const c = await run('tfjs');
    g.forEach((v, i) => expectClose(v, c[i], { rtol: 1e-5, atol: 1e-7 }, `tensor ${i}`));
  });
});

describe('causal attention and GELU', () => {
  it('attention forward matches float64, gradient matches the composite one', async () => {
    const [B, T, D, H] = [2, 7, 16, 2];
    const rng = new TestRng(9);
    const qkv = rng.normals(B * T * 3 * D, 0.8);
    const cot = rng.normals(B * T * D);
    const run = (mode: 'wgsl' | 'tfjs') =>
      inMode(mode, () => {
        const x = tf.tensor3d(qkv, [B, T, 3 * D]);
        const f = (q: tf.Tensor) =>
          tf.sum(tf.mul(causalSelfAttention(q as tf.Tensor3D, H), tf.tensor3d(cot, [B, T, D])));
        return [causalSelfAttention(x, H), tf.grad(f)(x)];
      });
    const g = await run('wgsl');
    const c = await run('tfjs');
    expectClose(g[0], attention64(qkv, B, T, D, H), { atolRel: 1e-6 }, 'forward vs float64');
    expectClose(g[1], c[1], { atolRel: 1e-5 }, 'dqkv');
  });

  it('gelu and its gradient', async () => {
    const rng = new TestRng(4);
    const x = rng.normals(333, 2);
    const run = (mode: 'wgsl' | 'tfjs') =>
      inMode(mode, () => {
        const t = tf.tensor1d(x);
        return [gelu(t), tf.grad((u: tf.Tensor) => tf.sum(gelu(u)))(t)];
      });
    const g = await run('wgsl');
    const c = await run('tfjs');
    expectClose(g[0], Array.from(x, gelu64), { atol: 1e-6, rtol: 1e-5 }, 'gelu');
    expectClose(g[1], c[1], { atol: 1e-5, rtol: 1e-4 }, 'gelu′');
  });
});
