/**
 * Compute backend ladder, chosen at run time and overridable with SCALAR_BACKEND:
 *
 *   tensorflow-gpu  native TensorFlow (tfjs-node-gpu), only when TensorFlow really registered a GPU device
 *   webgpu          Dawn + tfjs-backend-webgpu with our WGSL kernels, on a hardware adapter (a software one,
 *                   e.g. SwiftShader, only when forced: SCALAR_BACKEND=webgpu)
 *   wasm            tfjs-wasm (SIMD) with our AssemblyScript SIMD kernels in its memory
 *   tensorflow-cpu  a CPU-only libtensorflow: below wasm unless forced
 *   cpu             plain JS, SIMD kernels on staged copies
 *
 * `tensorflow` (or `native`) forces native TensorFlow with or without a GPU. The resulting report (with the
 * device or adapter it computes on) travels with every run.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { kernelBinary } from './kernels/compile.ts';
import { stagingHost, wasmHost } from './kernels/host.ts';
import { setKernelMode } from './kernels/ops.ts';
import { registerSimdKernels } from './kernels/registry.ts';
import { describeAdapter, openWebGpu, type GpuAdapterReport } from './webgpu/device.ts';
import { registerWgslKernels } from './webgpu/kernels.ts';

export type BackendName = 'tensorflow-gpu' | 'webgpu' | 'wasm' | 'tensorflow-cpu' | 'cpu';
/** The automatic ladder, best first. */
export const BACKEND_NAMES: readonly BackendName[] = [
  'tensorflow-gpu',
  'webgpu',
  'wasm',
  'tensorflow-cpu',
  'cpu',
];
/** What SCALAR_BACKEND / --backend accept: a rung, or `tensorflow` (native TensorFlow, GPU or not). */
export const BACKEND_CHOICES: readonly string[] = ['tensorflow', ...BACKEND_NAMES];

export interface BackendReport {
  name: BackendName;
  /** Where our kernels run: inside tfjs-wasm's memory, on copies staged through their own memory, or as WGSL
   * compute shaders on the tfjs-webgpu device. */
  kernels: 'simd-zero-copy' | 'simd-staged' | 'wgsl';
  /** The differentiable ops' formulation: our kernels (SIMD or, on webgpu, WGSL where a WGSL twin exists,
   * composite tfjs ops elsewhere), or composite tfjs ops (SCALAR_KERNELS=tfjs, and the default on native
   * TensorFlow, whose own kernels are fast). Sparse SAE, JSAE and SCALAR kernels are SIMD. */
  ops: 'simd' | 'wgsl' | 'tfjs';
  /** e.g. 'tfjs-node-gpu', 'dawn vulkan', 'wasm simd', 'cpu'. */
  detail: string;
  /** What computes, in words: the GPU adapter (vendor, architecture, driver) or the CPU. */
  device: string;
  /** The WebGPU adapter (webgpu rung only). */
  adapter?: GpuAdapterReport;
  /** Rungs of the ladder that were tried before this one, and why they were skipped. */
  skipped: { name: string; reason: string }[];
  tfjsVersion: string;
}

let current: BackendReport | null = null;

export function backendReport(): BackendReport {
  if (!current) throw new Error('compute backend not initialised: call initBackend() first');
  return current;
}

type Choice = BackendName | 'tensorflow';

function parseBackend(value: string | undefined): Choice | undefined {
  if (!value) return undefined;
  const v = value.trim().toLowerCase();
  const name = v === 'native' || v === 'tfjs-node' ? 'tensorflow' : v;
  if (!BACKEND_CHOICES.includes(name)) {
    throw new Error(
      `unknown compute backend '${value}' (SCALAR_BACKEND): use one of ${BACKEND_CHOICES.join(', ')}`,
    );
  }
  return name as Choice;
}

interface Loaded {
  name: BackendName;
  detail: string;
  device: string;
  adapter?: GpuAdapterReport;
}

const cpuDevice = (what: string) =>
  `CPU: ${os.cpus()[0]?.model.trim() || os.arch()}, ${os.availableParallelism()} threads (${what})`;

/**
 * Native TensorFlow. tfjs-node-gpu without a usable CUDA/cuDNN silently computes on the CPU, so a GPU is
 * claimed only when TensorFlow reports that it placed work on a GPU device.
 */
async function tryNative(want: 'gpu' | 'cpu' | 'any'): Promise<Loaded> {
  const failures: string[] = [];
  const pkgs =
    want === 'cpu' ? ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'] : ['@tensorflow/tfjs-node-gpu'];
  if (want === 'any') pkgs.push('@tensorflow/tfjs-node');
  for (const pkg of pkgs) {
    try {
      await import(pkg);
      if (!(await tf.setBackend('tensorflow'))) {
        failures.push(`${pkg}: backend did not initialise`);
        continue;
      }
      const gpu = (tf.backend() as { isUsingGpuDevice?: boolean }).isUsingGpuDevice === true;
      const detail = pkg.replace('@tensorflow/', '');
      if (want === 'gpu' && !gpu) {
        failures.push(`${pkg}: TensorFlow registered no GPU device (it would compute on the CPU)`);
        break; // the native backend is loaded now; the CPU build is the tensorflow-cpu rung's business
      }
      return gpu
        ? { name: 'tensorflow-gpu', detail, device: 'CUDA GPU (TensorFlow)' }
        : { name: 'tensorflow-cpu', detail, device: cpuDevice('libtensorflow') };
    } catch (err) {
      failures.push(`${pkg}: ${firstLine(err)}`);
    }
  }
  throw new Error(failures.join('; '));
}

/**
 * On Linux a hardware GPU shows up as a device node; without one, probing Dawn's adapters only finds software
 * rasterisers (and prints their drivers' complaints), so the automatic ladder skips the rung.
 */
function linuxGpuNode(): string | null {
  if (process.platform !== 'linux') return 'n/a';
  try {
    const dri = fs.existsSync('/dev/dri')
      ? fs.readdirSync('/dev/dri').filter((f) => f.startsWith('renderD'))
      : [];
    if (dri.length) return `/dev/dri/${dri[0]}`;
    const nv = fs.readdirSync('/dev').find((f) => /^nvidia\d+$/.test(f));
    return nv ? `/dev/${nv}` : null;
  } catch {
    return null;
  }
}

async function tryWebGpu(forced: boolean): Promise<Loaded> {
  if (!forced && !linuxGpuNode())
    throw new Error(
      'no GPU device node (/dev/dri/renderD*, /dev/nvidia*); force a software adapter with SCALAR_BACKEND=webgpu',
    );
  const adapter = await openWebGpu(forced);
  if (!(await tf.setBackend('webgpu'))) throw new Error('the tfjs webgpu backend did not initialise');
  return { name: 'webgpu', detail: `dawn ${adapter.api}`, device: describeAdapter(adapter), adapter };
}

async function tryWasm(): Promise<Loaded> {
  const dist = path.join(
    path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')),
    'dist',
  );
  setWasmPaths(dist + path.sep);
  if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend did not initialise');
  const simdOk = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const detail = simdOk ? 'wasm simd' : 'wasm';
  return { name: 'wasm', detail, device: cpuDevice(detail) };
}

async function tryCpu(): Promise<Loaded> {
  if (!(await tf.setBackend('cpu'))) throw new Error('cpu backend did not initialise');
  return { name: 'cpu', detail: 'cpu', device: cpuDevice('plain JS') };
}

const RUNGS: Record<Choice, (forced: boolean) => Promise<Loaded>> = {
  'tensorflow-gpu': () => tryNative('gpu'),
  webgpu: tryWebGpu,
  wasm: tryWasm,
  'tensorflow-cpu': () => tryNative('cpu'),
  tensorflow: () => tryNative('any'),
  cpu: tryCpu,
};

/**
 * Picks the backend (forced by `prefer` or SCALAR_BACKEND, else the first rung that loads) and attaches the
 * SIMD kernels. A forced backend that fails to load is an error, never a silent fallback.
 */
export async function initBackend(prefer?: string): Promise<BackendReport> {
  const forced = parseBackend(prefer ?? process.env.SCALAR_BACKEND);
  if (
    current &&
    (!forced || forced === current.name || (forced === 'tensorflow' && current.name.startsWith('tensorflow')))
  )
    return current;
  const ladder: readonly Choice[] = forced ? [forced] : BACKEND_NAMES;
  const skipped: BackendReport['skipped'] = [];
  for (const rung of ladder) {
    let loaded: Loaded;
    try {
      loaded = await RUNGS[rung](forced !== undefined);
    } catch (err) {
      if (forced) throw new Error(`compute backend '${rung}' (forced) is unavailable: ${firstLine(err)}`);
      skipped.push({ name: rung, reason: firstLine(err) });
      continue;
    }
    const { name } = loaded;
    const tfName = tf.getBackend();
    // WGSL kernels on the GPU; the SIMD module on CPU memory everywhere else (tfjs-webgpu cannot read
    // tensors synchronously, so the staged SIMD host would not work there).
    if (name === 'webgpu') registerWgslKernels();
    else {
      const binary = await kernelBinary();
      registerSimdKernels(
        tfName,
        name === 'wasm' ? await wasmHost(binary, tf.backend()) : await stagingHost(binary),
      );
    }
    const native = name.startsWith('tensorflow');
    const ops =
      process.env.SCALAR_KERNELS === 'tfjs' || (native && process.env.SCALAR_KERNELS !== 'simd')
        ? 'tfjs'
        : name === 'webgpu'
          ? 'wgsl'
          : 'simd';
    setKernelMode(ops === 'tfjs' ? 'tfjs' : null);
    current = {
      name,
      kernels: name === 'webgpu' ? 'wgsl' : name === 'wasm' ? 'simd-zero-copy' : 'simd-staged',
      ops,
      detail: loaded.detail,
      device: loaded.device,
      ...(loaded.adapter ? { adapter: loaded.adapter } : {}),
      skipped,
      tfjsVersion: tf.version.tfjs,
    };
    return current;
  }
  throw new Error(
    `no compute backend could be initialised: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`,
  );
}

/**
 * True when the backend computes on one CPU core (wasm, cpu): only then does a second thread (data-parallel
 * LM halves, the SAE activation pipeline, SCALAR's pair pool) add compute. Native TensorFlow is multithreaded
 * and a GPU backend would only contend for its device.
 */
export function singleCoreBackend(): boolean {
  const name = backendReport().name;
  return name === 'wasm' || name === 'cpu';
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0].slice(0, 300);
}

/**
 * Reads a tensor's values and disposes it. `await t.data()` is the only read the webgpu backend has
 * (synchronous reads throw there), and costs the same as dataSync() on the CPU backends.
 */
export async function readAndDispose(t: tf.Tensor): Promise<Float32Array | Int32Array | Uint8Array> {
  try {
    return (await t.data()) as Float32Array | Int32Array | Uint8Array;
  } finally {
    t.dispose();
  }
}

/** The first value of `t` (a scalar), which is then disposed. */
export async function readScalar(t: tf.Tensor): Promise<number> {
  return (await readAndDispose(t))[0];
}

/** Several scalar tensors in one read (one GPU round trip), all disposed. */
export async function readScalars(ts: tf.Tensor[]): Promise<number[]> {
  if (ts.length === 0) return [];
  const packed = tf.tidy(() => tf.concat(ts.map((t) => t.reshape([-1]).slice(0, 1))));
  tf.dispose(ts);
  return Array.from(await readAndDispose(packed));
}

/**
 * tf.tidy for any result shape: tensors reachable from the returned object (values, arrays, nested objects)
 * survive, every other tensor created inside is disposed. Unlike passing the result to tf.tidy directly,
 * typed arrays in the result are not walked element by element (tfjs does, which costs seconds for a few MB).
 */
export function tidy<T>(fn: () => T): T {
  let result!: T;
  tf.tidy(() => {
    result = fn();
    return tensorsIn(result);
  });
  return result;
}

/** Disposes every tensor reachable from `value` (as tidy finds them) except those in `keep`. */
export function disposeExcept(value: unknown, keep: Iterable<tf.Tensor>): void {
  const kept = new Set(keep);
  tf.dispose(tensorsIn(value).filter((t) => !kept.has(t)));
}

function tensorsIn(value: unknown, found: tf.Tensor[] = [], seen = new Set<object>()): tf.Tensor[] {
  if (value instanceof tf.Tensor) found.push(value);
  else if (value && typeof value === 'object' && !ArrayBuffer.isView(value) && !seen.has(value)) {
    seen.add(value);
    for (const v of value instanceof Map ? value.values() : Object.values(value)) tensorsIn(v, found, seen);
  }
  return found;
}
