/**
 * Where the SIMD kernels read and write. On the wasm backend the kernel module imports tfjs's own linear
 * memory, so tensors are passed by address with no copies. On any other backend (cpu, native TensorFlow)
 * the module gets its own memory and inputs/outputs are copied through it.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelExports } from './exports.ts';

type Info = tf.TensorInfo;
type DType = 'float32' | 'int32';

export interface KernelCall {
  input(t: Info): number;
  output(shape: number[], dtype?: DType): number;
  scratch(bytes: number): number;
  /** Ends the call and returns the outputs in the order they were requested. */
  finish(): Info[];
}

export interface KernelHost {
  readonly exports: KernelExports;
  begin(backend: tf.KernelBackend): KernelCall;
}

interface WasmBackendLike {
  wasm: { asm: { memory: WebAssembly.Memory }; _malloc(n: number): number; _free(p: number): void };
  dataIdMap: { get(id: unknown): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: DType): Info;
}

async function instantiate(binary: Uint8Array, memory: WebAssembly.Memory): Promise<KernelExports> {
  const env = {
    memory,
    abort: () => {
      throw new Error('SIMD kernel aborted');
    },
  };
  const module = await WebAssembly.compile(binary as BufferSource);
  const instance = await WebAssembly.instantiate(module, { env });
  return instance.exports as unknown as KernelExports;
}

export async function wasmHost(binary: Uint8Array, backend: tf.KernelBackend): Promise<KernelHost> {
  const wb = backend as unknown as WasmBackendLike;
  const exports = await instantiate(binary, wb.wasm.asm.memory);
  return {
    exports,
    begin(b) {
      const be = b as unknown as WasmBackendLike;
      const outs: Info[] = [];
      const scratch: number[] = [];
      return {
        input: (t) => be.dataIdMap.get(t.dataId).memoryOffset,
        output(shape, dtype = 'float32') {
          const info = be.makeOutput(shape, dtype);
          outs.push(info);
          return be.dataIdMap.get(info.dataId).memoryOffset;
        },
        scratch(bytes) {
          const p = be.wasm._malloc(Math.max(16, bytes));
          scratch.push(p);
          return p;
        },
        finish() {
          for (const p of scratch) be.wasm._free(p);
          return outs;
        },
      };
    },
  };
}

/** Own memory with a bump allocator that is reset after every call; works with any tfjs backend. */
export async function stagingHost(binary: Uint8Array): Promise<KernelHost> {
  const memory = new WebAssembly.Memory({ initial: 16 });
  const exports = await instantiate(binary, memory);
  return {
    exports,
    begin(b) {
      let top = 1024;
      const alloc = (bytes: number) => {
        const p = top;
        top = (top + bytes + 15) & ~15;
        if (top > memory.buffer.byteLength) memory.grow(Math.ceil((top - memory.buffer.byteLength) / 65536));
        return p;
      };
      const outs: { ptr: number; shape: number[]; dtype: DType }[] = [];
      return {
        input(t) {
          const values = b.readSync(t.dataId) as Float32Array | Int32Array;
          const p = alloc(values.byteLength);
          new Uint8Array(memory.buffer, p, values.byteLength).set(
            new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
          );
          return p;
        },
        output(shape, dtype = 'float32') {
          const p = alloc(
            4 *
              Math.max(
                1,
                shape.reduce((a, c) => a * c, 1),
              ),
          );
          outs.push({ ptr: p, shape, dtype });
          return p;
        },
        scratch: (bytes) => alloc(bytes),
        finish() {
          return outs.map(({ ptr, shape, dtype }) => {
            const n = shape.reduce((a, c) => a * c, 1);
            const values =
              dtype === 'int32'
                ? new Int32Array(memory.buffer, ptr, n)
                : new Float32Array(memory.buffer, ptr, n);
            return { dataId: b.write(values.slice(), shape, dtype), shape, dtype };
          });
        },
      };
    },
  };
}

/**
 * The SIMD module on host arrays: inputs are typed arrays read beforehand (asynchronously: the webgpu backend
 * has no synchronous reads), outputs come back as typed arrays. Runs a SIMD kernel for a backend that has no
 * twin of it (registry.ts runScalarKernelAsync).
 */
export interface ArrayCall extends Omit<KernelCall, 'finish'> {
  finish(): { values: Float32Array | Int32Array; shape: number[]; dtype: DType }[];
}

export async function arrayHost(
  binary: Uint8Array,
): Promise<{ exports: KernelExports; begin(arrays: Map<Info, Float32Array | Int32Array>): ArrayCall }> {
  const memory = new WebAssembly.Memory({ initial: 16 });
  const exports = await instantiate(binary, memory);
  return {
    exports,
    begin(arrays) {
      let top = 1024;
      const alloc = (bytes: number) => {
        const p = top;
        top = (top + bytes + 15) & ~15;
        if (top > memory.buffer.byteLength) memory.grow(Math.ceil((top - memory.buffer.byteLength) / 65536));
        return p;
      };
      const outs: { ptr: number; shape: number[]; dtype: DType }[] = [];
      return {
        input(t) {
          const values = arrays.get(t);
          if (!values) throw new Error('SIMD kernel input was not read');
          const p = alloc(values.byteLength);
          new Uint8Array(memory.buffer, p, values.byteLength).set(
            new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
          );
          return p;
        },
        output(shape, dtype = 'float32') {
          const p = alloc(
            4 *
              Math.max(
                1,
                shape.reduce((a, c) => a * c, 1),
              ),
          );
          outs.push({ ptr: p, shape, dtype });
          return p;
        },
        scratch: (bytes) => alloc(bytes),
        finish() {
          return outs.map(({ ptr, shape, dtype }) => {
            const n = shape.reduce((a, c) => a * c, 1);
            const values =
              dtype === 'int32'
                ? new Int32Array(memory.buffer, ptr, n).slice()
                : new Float32Array(memory.buffer, ptr, n).slice();
            return { values, shape, dtype };
          });
        },
      };
    },
  };
}
