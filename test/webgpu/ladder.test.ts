/**
 * The backend ladder: what the automatic choice skips and why, and the forced webgpu rung on whatever adapter
 * this machine has (SwiftShader in CI), with the adapter recorded in the report.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';

import { BACKEND_NAMES, backendReport, initBackend } from '../../src-main/engine/backend.ts';
import { describeAdapter, isSoftwareAdapter } from '../../src-main/engine/webgpu/device.ts';
import { initWebGpu } from './webgpu.helpers.ts';

describe('adapter classification', () => {
  it('tells software rasterisers from GPUs', () => {
    expect(
      isSoftwareAdapter({
        vendor: 'google',
        architecture: 'swiftshader',
        description: 'SwiftShader driver 5.0.0',
      }),
    ).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'mesa', device: 'llvmpipe (LLVM 15.0.6, 256 bits)' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'nvidia', architecture: 'hopper', isFallbackAdapter: true })).toBe(
      true,
    );
    expect(
      isSoftwareAdapter({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA: 550.54.14' }),
    ).toBe(false);
    expect(
      isSoftwareAdapter({ vendor: 'amd', architecture: 'rdna-3', description: 'AMD open-source driver' }),
    ).toBe(false);
  });

  it('describes an adapter in one line', () => {
    expect(
      describeAdapter({
        vendor: 'nvidia',
        architecture: 'hopper',
        device: 'NVIDIA H200',
        driver: 'NVIDIA: 550.54.14',
        api: 'vulkan',
        software: false,
        featureLevel: 'core',
      }),
    ).toBe('nvidia hopper (NVIDIA H200), NVIDIA: 550.54.14, vulkan');
  });
});

describe('ladder', () => {
  it('orders the rungs GPU first, with CPU-only TensorFlow below wasm', () => {
    expect(BACKEND_NAMES).toEqual(['tensorflow-gpu', 'webgpu', 'wasm', 'tensorflow-cpu', 'cpu']);
  });

  it('the automatic choice says why it skipped each rung above the one it took', async () => {
    const saved = process.env.SCALAR_BACKEND;
    delete process.env.SCALAR_BACKEND;
    try {
      const r = await initBackend();
      expect(BACKEND_NAMES).toContain(r.name);
      expect(r.device.length).toBeGreaterThan(0);
      const above = BACKEND_NAMES.slice(0, BACKEND_NAMES.indexOf(r.name));
      expect(r.skipped.map((s) => s.name)).toEqual(above);
      for (const s of r.skipped) expect(s.reason.length).toBeGreaterThan(10);
      // A software adapter is never taken automatically.
      if (r.name === 'webgpu') expect(r.adapter?.software).toBe(false);
      if (r.name === 'tensorflow-gpu') expect(r.device).toMatch(/GPU/);
    } finally {
      if (saved !== undefined) process.env.SCALAR_BACKEND = saved;
    }
  });

  it('forced webgpu runs on the adapter there is, and records it', async () => {
    const r = await initWebGpu();
    expect(r.name).toBe('webgpu');
    expect(tf.getBackend()).toBe('webgpu');
    expect(r.kernels).toBe('wgsl');
    expect(r.adapter).toBeDefined();
    const a = r.adapter!;
    expect(a.vendor.length + a.architecture.length + a.device.length).toBeGreaterThan(0);
    expect(a.driver.length).toBeGreaterThan(0);
    expect(r.device).toBe(describeAdapter(a));
    expect(backendReport()).toBe(r);
    // It computes: a reduction read back asynchronously (synchronous reads do not exist on this backend).
    const s = tf.sum(tf.range(1, 101));
    expect((await s.data())[0]).toBe(5050);
    s.dispose();
  });

  it('an unknown backend name is an error naming the choices', async () => {
    await expect(initBackend('gpu-please')).rejects.toThrow(
      /tensorflow-gpu, webgpu, wasm, tensorflow-cpu, cpu/,
    );
  });
});
