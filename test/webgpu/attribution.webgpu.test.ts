/**
 * SCALAR attribution's WGSL twins on a real WebGPU adapter (SwiftShader in CI), position-local segments
 * (fflayer; ffblock with DyT and with LayerNorm):
 * - Jacobian rows against tf.grad of pre₁_j(segment(x)) in composite tfjs on the same backend;
 * - the IG accumulation against a float64 accumulation of the same rows, both scalings, with inactive slots
 *   and latents repeated across points; two runs and chunked runs bit-identical;
 * - the whole fast attribution on webgpu against the plain algorithm (one backward pass per j per α) run on
 *   the cpu backend of the same process, on the same pair.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { matMul, setKernelMode, useKernel } from '../../src-main/engine/kernels/ops.ts';
import { hostFallbackCounts, runScalarKernel } from '../../src-main/engine/kernels/registry.ts';
import {
  attributionBatchFast,
  finishAttribution,
  linearise,
} from '../../src-main/engine/scalar/attribution.ts';
import { accumulateAttributionPlain, type AttributionOptions } from '../../src-main/engine/scalar/plain.ts';
import { takeGpuErrors } from '../../src-main/engine/webgpu/device.ts';
import { expectClose, TestRng } from '../unit/lm.helpers.ts';
import { randomPair, randomTokens } from '../unit/scalar.helpers.ts';
import { initWebGpu } from './webgpu.helpers.ts';

beforeAll(async () => {
  expect((await initWebGpu()).name).toBe('webgpu');
});

afterEach(() => {
  setKernelMode(null);
  expect(takeGpuErrors()).toEqual([]);
});

const LOCAL = [
  { setup: 'fflayer', norm2: 'layernorm' },
  { setup: 'ffblock', norm2: 'dyt' },
  { setup: 'ffblock', norm2: 'layernorm' },
] as const;

it('the attribution kernels of position-local segments are registered for webgpu', () => {
  expect(useKernel('ScalarJacobianRows')).toBe(true);
  expect(useKernel('ScalarIgAccumulateLocal')).toBe(true);
});

describe('Jacobian rows against tf.grad of pre₁_j (composite tfjs)', () => {
  for (const c of LOCAL) {
    it(`${c.setup} (${c.norm2})`, async () => {
      const { lm, set, pm } = randomPair({ setup: c.setup, norm2: c.norm2 });
      const [B, T, D] = [2, 5, pm.D];
      const x = tf.tensor2d(new TestRng(4).normals(B * T * D, 0.8), [B * T, D]);
      const down = pm.down.w;
      const p = (n: string) => lm.params[`h.${pm.pair.layer}.${n}`];
      const outs = tf.tidy(() => {
        const lin = linearise(pm, x, B, T);
        const [idx1, val1] = runScalarKernel(
          'ScalarTopK',
          { xw: matMul(tf.sub(lin.y, down.bDec) as tf.Tensor2D, down.wEnc), bEnc: down.bEnc },
          { topk: pm.down.k, relu: 1 },
        );
        const inputs: Record<string, tf.Tensor> = {
          idx1,
          val1,
          g: lin.g,
          cT: matMul(tf.transpose(down.wEnc), tf.transpose(p('mlp.c_proj.weight') as tf.Tensor2D)),
          wFc: p('mlp.c_fc.weight'),
          wEncT: tf.transpose(down.wEnc),
        };
        if (lin.norm) inputs.norm = lin.norm;
        if (lin.rstd) inputs.rstd = lin.rstd;
        if (lin.gamma) inputs.gamma = lin.gamma;
        return [idx1, val1, runScalarKernel('ScalarJacobianRows', inputs, { mode: lin.mode })[0]];
      });
      const [idx1, val1, rows] = await Promise.all(outs.map((t) => t.data()));

      setKernelMode('tfjs');
      const k = pm.down.k;
      const expected = new Float32Array(B * T * k * D);
      let active = 0;
      for (let j = 0; j < pm.f1; j++) {
        const gj = tf.grad((xx: tf.Tensor) =>
          tf.sum(tf.mul(pm.preDown(pm.segment(xx.reshape([B, T, D]))), tf.oneHot([j], pm.f1))),
        )(x);
        const g = await gj.data();
        for (let e = 0; e < B * T * k; e++) {
          if (idx1[e] !== j || val1[e] <= 0) continue;
          const n = Math.floor(e / k);
          expected.set(g.subarray(n * D, (n + 1) * D), e * D);
          active++;
        }
      }
      expect(active).toBeGreaterThan(B * T);
      // Closed form vs autodiff in float32: 1e-5 of the largest entry.
      expectClose(rows, expected, { atolRel: 1e-5 }, 'rows');
      tf.dispose([x, ...outs]);
      lm.dispose();
      set.dispose();
    });
  }
});

describe('IG accumulation (position-local) against float64, deterministic', () => {
  const [S, N, K, D, F0, F1, K0] = [3, 11, 4, 8, 10, 7, 3];
  const rng = new TestRng(17);
  // Codes per point: K distinct latents of F1 (so latents repeat across points), some inactive slots.
  const idx1 = new Int32Array(S * N * K);
  const val1 = new Float32Array(S * N * K);
  for (let q = 0; q < S * N; q++) {
    const perm = rng.ints(F1 * 4, 1 << 30).slice(0, F1);
    const order = Array.from({ length: F1 }, (_, f) => f).sort((a, b) => perm[a] - perm[b]);
    for (let s = 0; s < K; s++) {
      idx1[q * K + s] = order[s];
      val1[q * K + s] = (q + s) % 4 === 0 ? 0 : 0.5 + rng.normals(1)[0] ** 2;
    }
  }
  const rows = rng.normals(S * N * K * D);
  const c = Float32Array.from(rng.normals(N), Math.abs);
  const idx0 = Int32Array.from({ length: N * K0 }, (_, q) => (q * 7 + Math.floor(q / K0)) % F0);
  const val0 = Float32Array.from({ length: N * K0 }, (_, q) => (q % 5 === 2 ? 0 : 0.2 + (q % 3)));
  const wDec0 = rng.normals(F0 * D);

  /** v_j(n) then M_j (upper triangle, a ≤ b) or A²[i, j], in float64. */
  function reference(textbook: boolean): Float64Array {
    const out = new Float64Array(textbook ? F0 * F1 : F1 * D * D);
    for (let n = 0; n < N; n++) {
      const v = new Map<number, Float64Array>();
      for (let s = 0; s < S; s++)
        for (let slot = 0; slot < K; slot++) {
          const at = (s * N + n) * K + slot;
          if (val1[at] <= 0) continue;
          const vj = v.get(idx1[at]) ?? new Float64Array(D);
          for (let d = 0; d < D; d++) vj[d] += rows[at * D + d];
          v.set(idx1[at], vj);
        }
      for (const [j, vj] of v) {
        if (!textbook) {
          for (let a = 0; a < D; a++)
            for (let b = a; b < D; b++) out[(j * D + a) * D + b] += c[n] ** 2 * vj[a] * vj[b];
          continue;
        }
        for (let q = 0; q < K0; q++) {
          const z = val0[n * K0 + q];
          if (z <= 0) continue;
          const i = idx0[n * K0 + q];
          let dd = 0;
          for (let d = 0; d < D; d++) dd += wDec0[i * D + d] * vj[d];
          out[i * F1 + j] += ((dd * z) / S) ** 2;
        }
      }
    }
    return out;
  }

  async function run(textbook: number, chunkTokens?: number): Promise<Float32Array> {
    const t = tf.tidy(
      () =>
        runScalarKernel(
          'ScalarIgAccumulateLocal',
          {
            idx1: tf.tensor3d(idx1, [S, N, K], 'int32'),
            val1: tf.tensor3d(val1, [S, N, K]),
            rows: tf.tensor4d(rows, [S, N, K, D]),
            c: tf.tensor1d(c),
            idx0: tf.tensor2d(idx0, [N, K0], 'int32'),
            val0: tf.tensor2d(val0, [N, K0]),
            wDec0: tf.tensor2d(wDec0, [F0, D]),
          },
          { textbook, f1: F1, ...(chunkTokens ? { chunkTokens } : {}) },
        )[0],
    );
    const out = (await t.data()) as Float32Array;
    t.dispose();
    return out;
  }

  for (const textbook of [0, 1]) {
    it(textbook ? 'textbook A²' : 'reference M (upper triangle)', async () => {
      const ref = reference(textbook === 1);
      const ours = await run(textbook);
      const upper = (a: ArrayLike<number>) =>
        textbook ? Array.from(a) : Array.from(a).filter((_, q) => q % D >= Math.floor(q / D) % D);
      expect(upper(ref).filter((x) => x !== 0).length).toBeGreaterThan(upper(ref).length / 4);
      // float32 sums of a few terms each: 1e-6 of the largest entry.
      expectClose(upper(ours), upper(ref), { atolRel: 1e-6 }, 'accumulation');
      // Deterministic: a second run and runs in chunks of 1 and 4 tokens are bit-identical.
      for (const other of [await run(textbook), await run(textbook, 1), await run(textbook, 4)])
        expect(Array.from(other)).toEqual(Array.from(ours));
    });
  }
});

describe('fast attribution on webgpu = plain algorithm on cpu', () => {
  const opts: AttributionOptions[] = [
    { steps: 1, scaling: 'reference' },
    { steps: 3, scaling: 'reference' },
    { steps: 3, scaling: 'textbook' },
  ];
  for (const c of LOCAL) {
    it(`${c.setup} (${c.norm2}), S ∈ {1, 3}, both scalings`, async () => {
      const [B, T] = [2, 6];
      await tf.setBackend('cpu');
      const onCpu = randomPair({ setup: c.setup, norm2: c.norm2 });
      const cleanCpu = onCpu.pm.clean(randomTokens(9, B, T));
      const plain = opts.map((o) => {
        const sumSq = new Float64Array(onCpu.pm.f0 * onCpu.pm.f1);
        accumulateAttributionPlain(onCpu.pm, cleanCpu, o, sumSq);
        return sumSq.map(Math.sqrt);
      });
      onCpu.lm.dispose();
      await tf.setBackend('webgpu');
      const { lm, pm } = randomPair({ setup: c.setup, norm2: c.norm2 });
      const clean = pm.clean(randomTokens(9, B, T));
      for (const [q, o] of opts.entries()) {
        const fast = await finishAttribution(pm, await attributionBatchFast(pm, clean, o), o.scaling);
        // The WGSL twins ran: nothing went through the CPU fallback that reads tensors back.
        expect(hostFallbackCounts()).toEqual({});
        expect(plain[q].filter((v) => v > 0).length).toBeGreaterThan(plain[q].length / 10);
        // As on the CPU backends (test/unit/scalarIg.test.ts): 1e-5 of the largest score.
        expectClose(fast, plain[q], { atolRel: 1e-5 }, `S = ${o.steps}, ${o.scaling}`);
      }
      lm.dispose();
    });
  }
});
