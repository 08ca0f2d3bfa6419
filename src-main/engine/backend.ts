/**
 * Compute backend ladder: native TensorFlow (GPU, then CPU build) → wasm (SIMD) → cpu, chosen at run time and
 * overridable with SCALAR_BACKEND. The SIMD kernel module (kernels/) is attached to whichever backend loads.
 * The resulting report travels with every run.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import path from 'node:path';
import { kernelBinary } from './kernels/compile.ts';
import { stagingHost, wasmHost } from './kernels/host.ts';
import { setKernelMode } from './kernels/ops.ts';
import { registerSimdKernels } from './kernels/registry.ts';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

export interface BackendReport {
  name: BackendName;
  /** Where the SIMD kernels run: inside tfjs-wasm's memory, or on copies staged through their own memory. */
  kernels: 'simd-zero-copy' | 'simd-staged';
  /** The differentiable ops' formulation: SIMD kernels, or composite tfjs ops (SCALAR_KERNELS=tfjs, and the
   * default on native TensorFlow, whose own kernels are fast). Sparse SAE, JSAE and SCALAR kernels are SIMD. */
  ops: 'simd' | 'tfjs';
  /** e.g. 'tfjs-node-gpu', 'wasm simd', 'cpu'. */
  detail: string;
  /** Rungs of the ladder that were tried before this one, and why they were skipped. */
  skipped: { name: string; reason: string }[];
  tfjsVersion: string;
}

let current: BackendReport | null = null;

export function backendReport(): BackendReport {
  if (!current) throw new Error('compute backend not initialised: call initBackend() first');
  return current;
}

function parseBackend(value: string | undefined): BackendName | undefined {
  if (!value) return undefined;
  const v = value.trim().toLowerCase();
  const name = v === 'native' || v === 'tfjs-node' ? 'tensorflow' : v;
  if (!BACKEND_NAMES.includes(name as BackendName)) {
    throw new Error(
      `unknown compute backend '${value}' (SCALAR_BACKEND): use one of ${BACKEND_NAMES.join(', ')}`,
    );
  }
  return name as BackendName;
}

async function tryNative(): Promise<string> {
  const failures: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
      if (await tf.setBackend('tensorflow')) return pkg.replace('@tensorflow/', '');
      failures.push(`${pkg}: backend did not initialise`);
    } catch (err) {
      failures.push(`${pkg}: ${firstLine(err)}`);
    }
  }
  throw new Error(failures.join('; '));
}

async function tryWasm(): Promise<string> {
  const dist = path.join(
    path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')),
    'dist',
  );
  setWasmPaths(dist + path.sep);
  if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend did not initialise');
  const simdOk = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return simdOk ? 'wasm simd' : 'wasm';
}

async function tryCpu(): Promise<string> {
  if (!(await tf.setBackend('cpu'))) throw new Error('cpu backend did not initialise');
  return 'cpu';
}

const RUNGS: Record<BackendName, () => Promise<string>> = {
  tensorflow: tryNative,
  wasm: tryWasm,
  cpu: tryCpu,
};

/**
 * Picks the backend (forced by `prefer` or SCALAR_BACKEND, else the first rung that loads) and attaches the
 * SIMD kernels. A forced backend that fails to load is an error, never a silent fallback.
 */
export async function initBackend(prefer?: string): Promise<BackendReport> {
  const forced = parseBackend(prefer ?? process.env.SCALAR_BACKEND);
  if (current && (!forced || forced === current.name)) return current;
  const ladder = forced ? [forced] : BACKEND_NAMES;
  const skipped: BackendReport['skipped'] = [];
  for (const name of ladder) {
    let detail: string;
    try {
      detail = await RUNGS[name]();
    } catch (err) {
      if (forced) throw new Error(`compute backend '${name}' (forced) is unavailable: ${firstLine(err)}`);
      skipped.push({ name, reason: firstLine(err) });
      continue;
    }
    const binary = await kernelBinary();
    registerSimdKernels(
      name,
      name === 'wasm' ? await wasmHost(binary, tf.backend()) : await stagingHost(binary),
    );
    const ops =
      process.env.SCALAR_KERNELS === 'tfjs' ||
      (name === 'tensorflow' && process.env.SCALAR_KERNELS !== 'simd')
        ? 'tfjs'
        : 'simd';
    setKernelMode(ops === 'tfjs' ? 'tfjs' : null);
    current = {
      name,
      kernels: name === 'wasm' ? 'simd-zero-copy' : 'simd-staged',
      ops,
      detail,
      skipped,
      tfjsVersion: tf.version.tfjs,
    };
    return current;
  }
  throw new Error(
    `no compute backend could be initialised: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`,
  );
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0].slice(0, 300);
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

function tensorsIn(value: unknown, found: tf.Tensor[] = [], seen = new Set<object>()): tf.Tensor[] {
  if (value instanceof tf.Tensor) found.push(value);
  else if (value && typeof value === 'object' && !ArrayBuffer.isView(value) && !seen.has(value)) {
    seen.add(value);
    for (const v of value instanceof Map ? value.values() : Object.values(value)) tensorsIn(v, found, seen);
  }
  return found;
}
