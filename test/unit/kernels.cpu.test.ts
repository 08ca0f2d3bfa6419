/**
 * Kernel tests on the cpu backend (SIMD kernels with staged copies): the shared suite (kernels.suite.ts),
 * and switching between backends with initBackend(prefer), which re-attaches the kernels to the new backend.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { backendReport, initBackend } from '../../src-main/engine/backend.ts';
import { causalSelfAttention, gelu, kernelMode, setKernelMode } from '../../src-main/engine/kernels/ops.ts';
import { defineKernelSuite } from './kernels.suite.ts';
import { attention64, expectClose, gelu64, scoped, TestRng, values } from './lm.helpers.ts';

beforeAll(async () => {
  await initBackend('cpu');
});

describe('backend', () => {
  it('is cpu with the staged SIMD kernels attached', () => {
    expect(tf.getBackend()).toBe('cpu');
    expect(backendReport().name).toBe('cpu');
    expect(backendReport().kernels).toBe('simd-staged');
    expect(kernelMode()).toBe('simd');
  });
});

defineKernelSuite('cpu');

describe('switching backends', () => {
  /** A SIMD gelu and attention on the current backend, checked against the float64 formulas. */
  function checkSimdOps() {
    expect(kernelMode()).toBe('simd');
    const rng = new TestRng(5);
    const x = rng.normals(10, 2);
    const qkv = rng.normals(5 * 3 * 8, 1.2);
    const [g, a] = scoped(() => [
      values(gelu(tf.tensor(x))),
      values(causalSelfAttention(tf.tensor3d(qkv, [1, 5, 24]), 2)),
    ]);
    expectClose(g, Array.from(x, gelu64), { atol: 1e-6, rtol: 1e-5 }, 'gelu');
    expectClose(a, attention64(qkv, 1, 5, 8, 2), { atolRel: 1e-6 }, 'attention');
  }

  it('cpu → wasm → cpu re-attaches the kernels each time; an unforced call keeps the current backend', async () => {
    const saved = process.env.SCALAR_BACKEND;
    delete process.env.SCALAR_BACKEND;
    try {
      setKernelMode(null);
      const wasm = await initBackend('wasm');
      expect(wasm.name).toBe('wasm');
      expect(wasm.kernels).toBe('simd-zero-copy');
      expect(tf.getBackend()).toBe('wasm');
      checkSimdOps();
      // initBackend() without a preference returns the cached backend instead of re-running the ladder.
      expect(await initBackend()).toBe(wasm);

      const cpu = await initBackend('cpu');
      expect(cpu.name).toBe('cpu');
      expect(cpu.kernels).toBe('simd-staged');
      expect(tf.getBackend()).toBe('cpu');
      checkSimdOps();
      expect(await initBackend('cpu')).toBe(cpu);
    } finally {
      if (saved !== undefined) process.env.SCALAR_BACKEND = saved;
    }
  });

  it('an unknown backend name is an error naming the choices', async () => {
    await expect(initBackend('gpu-please')).rejects.toThrow(
      /unknown compute backend 'gpu-please'.*tensorflow, tensorflow-gpu, webgpu, wasm, tensorflow-cpu, cpu/,
    );
  });
});
