/**
 * Kernel tests on the wasm backend (the default CPU backend here, SIMD kernels on tfjs-wasm's own memory):
 * the shared suite (kernels.suite.ts) plus wasm-specific regressions.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { backendReport, initBackend } from '../../src-main/engine/backend.ts';
import {
  embedding,
  kernelMode,
  setKernelMode,
  softmaxCrossEntropy,
} from '../../src-main/engine/kernels/ops.ts';
import { defineKernelSuite } from './kernels.suite.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('backend', () => {
  it('is wasm with the zero-copy SIMD kernels attached', () => {
    expect(tf.getBackend()).toBe('wasm');
    expect(backendReport().name).toBe('wasm');
    expect(backendReport().kernels).toBe('simd-zero-copy');
    expect(kernelMode()).toBe('simd');
  });
});

defineKernelSuite('wasm');

describe('tfjs-wasm oneHot regression', () => {
  // tfjs-wasm 4.22's OneHot kernel ignores a float32 dtype and writes int32 bits (1 reads back as 1.4e-45),
  // so a composite op built on tf.oneHot(ids, depth, 1, 0, 'float32') silently returns ~0. The composite
  // embedding and cross-entropy must give correct values on wasm regardless.
  afterEach(() => setKernelMode(null));

  it('composite embedding returns the table rows (and their gradient)', () => {
    setKernelMode('tfjs');
    tf.tidy(() => {
      const table = tf.tensor2d([
        [0.5, -1, 2],
        [3, 4, 5],
        [-6, 7, 8.25],
      ]);
      const ids = tf.tensor1d([1, 2, 1, 0], 'int32');
      expect(Array.from(embedding(table, ids).dataSync())).toEqual([
        3, 4, 5, -6, 7, 8.25, 3, 4, 5, 0.5, -1, 2,
      ]);
      const g = tf.grad((t: tf.Tensor) => tf.sum(embedding(t as tf.Tensor2D, ids)))(table);
      // Row i of the gradient counts the occurrences of id i: [1, 2, 1].
      expect(Array.from(g.dataSync())).toEqual([1, 1, 1, 2, 2, 2, 1, 1, 1]);
    });
  });

  it('composite cross-entropy gives the known value', () => {
    setKernelMode('tfjs');
    const loss = tf.tidy(
      () =>
        softmaxCrossEntropy(
          tf.tensor2d([
            [1, 2, 3],
            [1, 2, 3],
          ]),
          tf.tensor1d([0, 2], 'int32'),
        ).dataSync()[0],
    );
    // (log(1 + e + e²) + log(1 + e⁻¹ + e⁻²)) / 2, see kernels.suite.ts
    expect(loss).toBeCloseTo((2.40760596444438 + 0.4076059644443804) / 2, 6);
  });
});
