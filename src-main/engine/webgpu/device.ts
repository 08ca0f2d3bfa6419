/**
 * The WebGPU rung: Dawn for Node (the npm package `webgpu`, its native binary inside the package) under
 * `@tensorflow/tfjs-backend-webgpu`. We pick the adapter ourselves, so the ladder can tell a hardware GPU from
 * a software rasteriser (SwiftShader, llvmpipe, WARP): a software adapter is used only when the user forced
 * `webgpu` (CI does, to run the WGSL kernels for real without a GPU).
 *
 * Environment: Dawn finds adapters through the system's Vulkan (Linux), Metal (macOS) or D3D12 (Windows).
 * `VK_ICD_FILENAMES` points the Vulkan loader at a specific driver, e.g. Debian's SwiftShader
 * (`/usr/lib/chromium/vk_swiftshader_icd.json` from chromium-common, with libvulkan1). `SCALAR_WEBGPU_FLAGS`
 * passes Dawn toggles (space-separated, e.g. `backend=opengles` with `EGL_PLATFORM=surfaceless` for Mesa's
 * llvmpipe through OpenGL ES, which needs the `compatibility` feature level, tried when no core adapter exists).
 */
import * as tf from '@tensorflow/tfjs';
import { describeAdapter, type GpuAdapter } from '../../../src-shared/device.ts';

/** What the run record keeps about the adapter (src-shared/device.ts reads it back for the UI and CLI). */
export type GpuAdapterReport = GpuAdapter;
export { describeAdapter };

type Gpu = { requestAdapter(o?: Record<string, unknown>): Promise<Adapter | null> };
interface Adapter {
  info: Record<string, unknown>;
  limits: Record<string, number>;
  features: Set<string>;
  requestDevice(d?: Record<string, unknown>): Promise<GpuDevice>;
}
export interface GpuDevice {
  limits: Record<string, number>;
  lost: Promise<{ message: string; reason: string }>;
  addEventListener(type: 'uncapturederror', fn: (e: { error: { message: string } }) => void): void;
  pushErrorScope(filter: 'validation' | 'out-of-memory' | 'internal'): void;
  popErrorScope(): Promise<{ message: string } | null>;
  createShaderModule(d: { code: string; label?: string }): unknown;
  createComputePipeline(d: Record<string, unknown>): { getBindGroupLayout(i: number): unknown };
  createBindGroup(d: Record<string, unknown>): unknown;
  destroy(): void;
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|\bwarp\b/i;

export function isSoftwareAdapter(info: Record<string, unknown>): boolean {
  if (info.isFallbackAdapter === true) return true;
  return SOFTWARE.test([info.vendor, info.architecture, info.device, info.description].join(' '));
}

function apiOf(driver: string, flags: string[]): string {
  const forced = flags.find((f) => f.startsWith('backend='))?.slice('backend='.length);
  if (forced) return forced;
  if (/opengl/i.test(driver)) return 'opengles';
  return process.platform === 'darwin' ? 'metal' : process.platform === 'win32' ? 'd3d12' : 'vulkan';
}

let opened: { device: GpuDevice; report: GpuAdapterReport } | null = null;
const gpuErrors: string[] = [];

/** Validation / out-of-memory errors the device reported since the last call (tests assert there are none). */
export function takeGpuErrors(): string[] {
  return gpuErrors.splice(0);
}

/** The device the webgpu backend runs on (after openWebGpu). */
export function webGpuDevice(): GpuDevice {
  if (!opened) throw new Error('WebGPU is not initialised');
  return opened.device;
}

/**
 * Opens Dawn, picks an adapter and registers tfjs's `webgpu` backend on its device. Refuses a software adapter
 * unless `allowSoftware`. Throws with the reason when there is no usable adapter.
 */
export async function openWebGpu(allowSoftware: boolean): Promise<GpuAdapterReport> {
  if (opened) {
    if (opened.report.software && !allowSoftware) throw softwareRefusal(opened.report);
    return opened.report;
  }
  let dawn: { create(flags: string[]): Gpu; globals: Record<string, unknown> };
  try {
    dawn = (await import('webgpu')) as unknown as typeof dawn;
  } catch (err) {
    throw new Error(`the webgpu package (Dawn for Node) did not load: ${firstLine(err)}`);
  }
  // GPUBufferUsage, GPUMapMode, ... are globals in a browser; tfjs-backend-webgpu uses them as such.
  for (const [k, v] of Object.entries(dawn.globals))
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  const flags = (process.env.SCALAR_WEBGPU_FLAGS ?? '').split(/\s+/).filter(Boolean);
  const gpu = dawn.create(flags);
  let featureLevel: GpuAdapterReport['featureLevel'] = 'core';
  let adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter && allowSoftware) {
    adapter = await gpu.requestAdapter({
      powerPreference: 'high-performance',
      featureLevel: 'compatibility',
    });
    featureLevel = 'compatibility';
  }
  if (!adapter)
    throw new Error(
      'no WebGPU adapter (needs a Vulkan driver on Linux, Metal on macOS, D3D12 on Windows; without a GPU, ' +
        'SwiftShader: libvulkan1 + VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json, forced with SCALAR_BACKEND=webgpu)',
    );
  const info = adapter.info;
  const driver = String(info.description ?? '');
  const report: GpuAdapterReport = {
    vendor: String(info.vendor ?? ''),
    architecture: String(info.architecture ?? ''),
    device: String(info.device ?? ''),
    driver,
    api: apiOf(driver, flags),
    software: isSoftwareAdapter(info),
    featureLevel,
  };
  if (report.software && !allowSoftware) throw softwareRefusal(report);

  const L = adapter.limits;
  const want = [
    'maxComputeWorkgroupStorageSize',
    'maxComputeWorkgroupsPerDimension',
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupSizeX',
    'maxComputeInvocationsPerWorkgroup',
    'maxStorageBuffersPerShaderStage',
  ];
  const device = await adapter.requestDevice({
    requiredLimits: Object.fromEntries(want.filter((k) => k in L).map((k) => [k, L[k]])),
  });
  device.addEventListener('uncapturederror', (e) => {
    if (gpuErrors.length < 20) gpuErrors.push(e.error.message.split('\n')[0]);
  });
  void device.lost.then((l) => {
    if (opened?.device === device) gpuErrors.push(`device lost: ${l.reason} ${l.message}`);
  });

  // tfjs-backend-webgpu checks navigator.gpu when it constructs the backend (Node 20 has no navigator).
  const g = globalThis as unknown as { navigator?: Record<string, unknown> };
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true });
  if (!g.navigator!.gpu) Object.defineProperty(g.navigator!, 'gpu', { value: gpu, configurable: true });
  const { WebGPUBackend } = (await import('@tensorflow/tfjs-backend-webgpu')) as unknown as {
    WebGPUBackend: new (device: unknown, info: unknown) => tf.KernelBackend;
  };
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  // Priority 0: never the default of a bare tf.ready(); the ladder sets backends explicitly.
  tf.registerBackend('webgpu', () => new WebGPUBackend(device, info), 0);
  opened = { device, report };
  return report;
}

function softwareRefusal(a: GpuAdapterReport): Error {
  return new Error(
    `only a software adapter (${describeAdapter(a)}): correct but slower than wasm; force it with SCALAR_BACKEND=webgpu`,
  );
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0].slice(0, 300);
}
