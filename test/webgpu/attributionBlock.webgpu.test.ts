/**
 * The WGSL twin of SCALAR's IG accumulation through a transformer block (ScalarIgAccumulateBlock) on a real
 * WebGPU adapter (SwiftShader in CI):
 * - against the SIMD kernel run on the cpu backend of the same process, on random inputs, both scalings;
 *   two runs and runs in chunks of sequences and of latents bit-identical;
 * - the causal mask, by hand: a seed at position 0 reaches only position 0 (v = ρ + J_LN1ᵀ W_v W_o ρ there);
 * - the whole fast attribution of a tblock pair on webgpu against the plain algorithm (one backward pass per j
 *   per α) on the cpu backend, with nothing run through the CPU fallback.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import { setKernelMode, useKernel } from '../../src-main/engine/kernels/ops.ts';
import { hostFallbackCounts, runScalarKernel } from '../../src-main/engine/kernels/registry.ts';
import { attributionBatchFast, finishAttribution } from '../../src-main/engine/scalar/attribution.ts';
import { accumulateAttributionPlain, type AttributionOptions } from '../../src-main/engine/scalar/plain.ts';
import { takeGpuErrors } from '../../src-main/engine/webgpu/device.ts';
import { expectClose, TestRng } from '../unit/lm.helpers.ts';
import { randomPair, randomTokens } from '../unit/scalar.helpers.ts';
import { initWebGpu } from './webgpu.helpers.ts';

beforeAll(async () => {
  // The SIMD kernels on the cpu backend (the reference twin), then the webgpu backend under test.
  expect((await initBackend('cpu')).name).toBe('cpu');
  expect((await initWebGpu()).name).toBe('webgpu');
});

afterEach(async () => {
  setKernelMode(null);
  await tf.setBackend('webgpu');
  expect(takeGpuErrors()).toEqual([]);
});

it('the tblock IG accumulation is registered for webgpu', () => {
  expect(useKernel('ScalarIgAccumulateBlock')).toBe(true);
});

type Arrays = Record<string, { data: Float32Array | Int32Array; shape: number[] }>;

/** Runs ScalarIgAccumulateBlock on the current backend on `arrays`; returns its output. */
async function runBlock(arrays: Arrays, attrs: Record<string, number>): Promise<Float32Array> {
  const t = tf.tidy(() => {
    const inputs = Object.fromEntries(
      Object.entries(arrays).map(([k, a]) => [
        k,
        tf.tensor(a.data, a.shape, a.data instanceof Int32Array ? 'int32' : 'float32'),
      ]),
    );
    return runScalarKernel('ScalarIgAccumulateBlock', inputs, attrs)[0];
  });
  const out = (await t.data()) as Float32Array;
  t.dispose();
  return out;
}

/** Attention forward quantities of random qkv [S·B, T, 3D] from the registered attention kernel. */
async function attention(qkv: Float32Array, SB: number, T: number, D: number, H: number) {
  const [o, st] = tf.tidy(() =>
    runScalarKernel('ScalarAttention', { qkv: tf.tensor3d(qkv, [SB, T, 3 * D]) }, { nHead: H }),
  );
  const out = { attnO: (await o.data()) as Float32Array, stats: (await st.data()) as Float32Array };
  tf.dispose([o, st]);
  return out;
}

describe('IG accumulation (tblock) against the SIMD kernel on cpu, deterministic', () => {
  const [S, B, T, H, D, K, F0, F1, K0] = [2, 3, 5, 2, 8, 3, 7, 6, 2];
  const N = B * T;
  const rng = new TestRng(23);
  const idx1 = new Int32Array(S * N * K);
  const val1 = new Float32Array(S * N * K);
  for (let q = 0; q < S * N; q++) {
    // K distinct latents per token (TopK), a rotating start so latents repeat across tokens; some inactive.
    for (let s = 0; s < K; s++) {
      idx1[q * K + s] = (q * 5 + s * 2) % F1;
      val1[q * K + s] = (q + s) % 4 === 0 ? 0 : 0.5;
    }
  }
  const qkv = rng.normals(S * N * 3 * D, 0.7);
  const yhat1 = rng.normals(S * N * D);
  const rstd1 = Float32Array.from(rng.normals(S * N), (x) => 0.5 + Math.abs(x));
  const inputs = async (): Promise<Arrays> => {
    const { attnO, stats } = await attention(qkv, S * B, T, D, H);
    const r2 = new TestRng(5);
    return {
      qkv: { data: qkv, shape: [S, B, T, 3 * D] },
      stats: { data: stats, shape: [S, B, H, T, 2] },
      attnO: { data: attnO, shape: [S, B, T, D] },
      yhat1: { data: yhat1, shape: [S, N, D] },
      rstd1: { data: rstd1, shape: [S, N] },
      gamma1: { data: r2.normals(D), shape: [D] },
      wO: { data: r2.normals(D * D, 0.4), shape: [D, D] },
      wQkv: { data: r2.normals(D * 3 * D, 0.4), shape: [D, 3 * D] },
      idx1: { data: idx1, shape: [S, B, T, K] },
      val1: { data: val1, shape: [S, B, T, K] },
      rows: { data: r2.normals(S * N * K * D), shape: [S, N, K, D] },
      c: { data: Float32Array.from(r2.normals(N), Math.abs), shape: [N] },
      idx0: { data: Int32Array.from({ length: N * K0 }, (_, q) => (q * 3 + (q % K0)) % F0), shape: [N, K0] },
      val0: {
        data: Float32Array.from({ length: N * K0 }, (_, q) => (q % 5 === 3 ? 0 : 0.3 + (q % 3))),
        shape: [N, K0],
      },
      wDec0: { data: r2.normals(F0 * D), shape: [F0, D] },
    };
  };

  for (const textbook of [0, 1]) {
    it(textbook ? 'textbook A²' : 'reference M (upper triangle)', async () => {
      await tf.setBackend('cpu');
      const onCpu = await inputs();
      const simd = await runBlock(onCpu, { textbook, f1: F1, nHead: H });
      await tf.setBackend('webgpu');
      // The same inputs (the cpu backend's attention statistics), so only the accumulation differs.
      const ours = await runBlock(onCpu, { textbook, f1: F1, nHead: H });
      // The SIMD kernel leaves entries below M_j's diagonal incomplete: compare the upper triangle.
      const upper = (a: Float32Array) =>
        textbook ? Array.from(a) : Array.from(a).filter((_, q) => q % D >= Math.floor(q / D) % D);
      expect(upper(simd).filter((x) => x !== 0).length).toBeGreaterThan(upper(simd).length / 4);
      // Two float32 orders of the same sums (attention backward, LayerNorm, squares): 1e-5 of the largest entry.
      expectClose(upper(ours), upper(simd), { atolRel: 1e-5 }, 'accumulation');
      // Deterministic: a second run and runs in chunks of sequences and of latents are bit-identical.
      const chunked: Record<string, number>[] = [
        { chunkSeqs: 1 },
        { chunkLatents: 4 },
        { chunkSeqs: 2, chunkLatents: 1 },
      ];
      const again = [await runBlock(onCpu, { textbook, f1: F1, nHead: H })];
      for (const ch of chunked) again.push(await runBlock(onCpu, { textbook, f1: F1, nHead: H, ...ch }));
      for (const other of again) expect(Array.from(other)).toEqual(Array.from(ours));
    });
  }
});

it('causal: a seed at position 0 reaches position 0 only (hand-computed), a seed at 2 reaches 0', async () => {
  const [T, H, D, K, F0, F1] = [3, 2, 4, 2, 3, 2];
  const rng = new TestRng(41);
  const qkv = rng.normals(T * 3 * D, 0.8);
  const { attnO, stats } = await attention(qkv, 1, T, D, H);
  const yhat1 = rng.normals(T * D);
  const rstd1 = Float32Array.from([1.5, 0.7, 1.2]);
  const gamma1 = rng.normals(D);
  const wO = rng.normals(D * D, 0.5);
  const wQkv = rng.normals(D * 3 * D, 0.5);
  // Latent 0 active at position 0 only; latent 1 at position 2 only.
  const idx1 = Int32Array.from([0, 1, 1, 0, 1, 0]);
  const val1 = Float32Array.from([1, 0, 0, 0, 1, 0]);
  const rows = rng.normals(T * K * D);
  // Upstream latent i active at position i only (z = 1), S = 1.
  const idx0 = Int32Array.from([0, 1, 2]);
  const val0 = Float32Array.from([1, 1, 1]);
  const wDec0 = rng.normals(F0 * D);
  const a2 = await runBlock(
    {
      qkv: { data: qkv, shape: [1, 1, T, 3 * D] },
      stats: { data: stats, shape: [1, 1, H, T, 2] },
      attnO: { data: attnO, shape: [1, 1, T, D] },
      yhat1: { data: yhat1, shape: [1, T, D] },
      rstd1: { data: rstd1, shape: [1, T] },
      gamma1: { data: gamma1, shape: [D] },
      wO: { data: wO, shape: [D, D] },
      wQkv: { data: wQkv, shape: [D, 3 * D] },
      idx1: { data: idx1, shape: [1, 1, T, K] },
      val1: { data: val1, shape: [1, 1, T, K] },
      rows: { data: rows, shape: [1, T, K, D] },
      c: { data: Float32Array.from([1, 1, 1]), shape: [T] },
      idx0: { data: idx0, shape: [T, 1] },
      val0: { data: val0, shape: [T, 1] },
      wDec0: { data: wDec0, shape: [F0, D] },
    },
    { textbook: 1, f1: F1, nHead: H },
  );
  // Position 0 attends only to itself (p = 1, ds = 0): dLN(0) = W_v W_o ρ, v(0) = ρ + J_LN1ᵀ dLN(0).
  const rho = Array.from(rows.subarray(0, D));
  const dO = Array.from({ length: D }, (_, cc) => rho.reduce((s, r, d) => s + wO[cc * D + d] * r, 0));
  const dLN = Array.from({ length: D }, (_, a) =>
    dO.reduce((s, x, cc) => s + wQkv[a * 3 * D + 2 * D + cc] * x, 0),
  );
  const w = dLN.map((x, a) => x * gamma1[a]);
  const mean = w.reduce((s, x) => s + x, 0) / D;
  const proj = w.reduce((s, x, a) => s + x * yhat1[a], 0) / D;
  const v0 = w.map((x, a) => rho[a] + (x - mean - proj * yhat1[a]) * rstd1[0]);
  const expected00 = v0.reduce((s, x, a) => s + wDec0[a] * x, 0) ** 2;
  expect(a2[0 * F1 + 0]).toBeCloseTo(expected00, 4);
  expect(Math.abs(a2[0] - expected00)).toBeLessThan(1e-5 * Math.max(1, expected00));
  // Nothing of latent 0 reaches positions 1 and 2 (exact zeros)...
  expect(a2[1 * F1 + 0]).toBe(0);
  expect(a2[2 * F1 + 0]).toBe(0);
  // ...while latent 1's seed at position 2 reaches every earlier position through attention.
  for (let i = 0; i < F0; i++) expect(a2[i * F1 + 1]).toBeGreaterThan(0);
});

describe('fast tblock attribution on webgpu = plain algorithm on cpu', () => {
  const opts: AttributionOptions[] = [
    { steps: 1, scaling: 'reference' },
    { steps: 3, scaling: 'reference' },
    { steps: 3, scaling: 'textbook' },
  ];
  it('tblock (layernorm), S ∈ {1, 3}, both scalings', async () => {
    const [B, T] = [2, 6];
    await tf.setBackend('cpu');
    const onCpu = randomPair({ setup: 'tblock', norm2: 'layernorm' });
    const cleanCpu = onCpu.pm.clean(randomTokens(9, B, T));
    const plain = opts.map((o) => {
      const sumSq = new Float64Array(onCpu.pm.f0 * onCpu.pm.f1);
      accumulateAttributionPlain(onCpu.pm, cleanCpu, o, sumSq);
      return sumSq.map(Math.sqrt);
    });
    onCpu.lm.dispose();
    await tf.setBackend('webgpu');
    const { lm, pm } = randomPair({ setup: 'tblock', norm2: 'layernorm' });
    const clean = pm.clean(randomTokens(9, B, T));
    for (const [q, o] of opts.entries()) {
      const fast = await finishAttribution(pm, await attributionBatchFast(pm, clean, o), o.scaling);
      // The WGSL twins ran: nothing went through the CPU fallback that reads tensors back.
      expect(hostFallbackCounts()).toEqual({});
      expect(plain[q].filter((v) => v > 0).length).toBeGreaterThan(plain[q].length / 10);
      // As the position-local case: 1e-5 of the largest score.
      expectClose(fast, plain[q], { atolRel: 1e-5 }, `S = ${o.steps}, ${o.scaling}`);
    }
    lm.dispose();
  });
});
