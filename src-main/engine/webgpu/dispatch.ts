/**
 * Runs our own WGSL compute shaders inside tfjs-webgpu's command stream. tfjs's WebGPUProgram writes one output
 * per program; our kernels write several (TopK: indices and values; the SAE backward: four gradients), so we
 * bind the backend's buffers ourselves and record the dispatch into its open compute pass exactly as
 * `WebGPUBackend.recordAndSubmit` does (same batching, same deferred release of buffers still in flight).
 *
 * Shader convention: bindings 0… are the outputs (`read_write`), then the inputs (`read`), then one uniform
 * struct of 4-byte scalars. Every kernel writes every element of its outputs (pooled buffers are not zeroed).
 */
import * as tf from '@tensorflow/tfjs';

type DType = 'float32' | 'int32';

/** The parts of tfjs-backend-webgpu 4.22's WebGPUBackend we drive (public JS members of the class). */
interface WebGpuBackendLike {
  device: {
    createShaderModule(d: { code: string; label?: string }): unknown;
    createComputePipeline(d: Record<string, unknown>): { getBindGroupLayout(i: number): unknown };
    createBindGroup(d: Record<string, unknown>): unknown;
  };
  makeTensorInfo(shape: number[], dtype: DType): Info;
  uploadToGPU(dataId: unknown): void;
  tensorToBinding(t: Info): unknown;
  makeUniforms(u: { type: string; data: number[] }[]): unknown;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  disposeData(dataId: unknown, force?: boolean): boolean;
  commandEncoder: { beginComputePass(d: Record<string, unknown>): ComputePass } | null;
  computePassEncoder: ComputePass | null;
  commandQueueOwnedIds: WeakSet<object>;
  dispatchCountInPass: number;
}
interface ComputePass {
  setPipeline(p: unknown): void;
  setBindGroup(i: number, g: unknown): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
  end(): void;
}

export type Uniform = { u32: number } | { i32: number } | { f32: number };

const pipelines = new WeakMap<object, Map<string, { getBindGroupLayout(i: number): unknown }>>();

function pipelineFor(be: WebGpuBackendLike, label: string, code: string) {
  let cache = pipelines.get(be);
  if (!cache) pipelines.set(be, (cache = new Map()));
  let p = cache.get(code);
  if (!p) {
    const module = be.device.createShaderModule({ code, label });
    p = be.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label });
    cache.set(code, p);
  }
  return p;
}

/** Workgroup counts for `groups` workgroups, folded into y past the 65,535 per-dimension limit. */
export function grid(groups: number): [number, number] {
  const x = Math.max(1, Math.min(groups, 65535));
  return [x, Math.max(1, Math.ceil(groups / x))];
}

/** WGSL for the flat workgroup index of a 2-D `grid` (use with `@builtin(workgroup_id) wid` and `num_workgroups`). */
export const FLAT_GROUP = 'wid.y * nwg.x + wid.x';

export interface Dispatch {
  label: string;
  code: string;
  /** New outputs (shape, dtype), or existing tensors written in place (their earlier contents kept). */
  outputs: ({ shape: number[]; dtype?: DType } | Info)[];
  inputs: Info[];
  uniforms: Uniform[];
  /** Workgroups [x, y]; see `grid`. */
  groups: [number, number];
}

const isInfo = (o: object): o is Info => 'dataId' in o;

/** Records one dispatch; returns the outputs (new ones owned by the caller). */
export function dispatch(backend: tf.KernelBackend, d: Dispatch): Info[] {
  const be = backend as unknown as WebGpuBackendLike;
  const outputs = d.outputs.map((o) => (isInfo(o) ? o : be.makeTensorInfo(o.shape, o.dtype ?? 'float32')));
  const all = [...outputs, ...d.inputs];
  for (const t of all) be.uploadToGPU(t.dataId);
  const pipeline = pipelineFor(be, d.label, d.code);
  // Scalars only, each its own 4-byte field; padded to 16 bytes.
  const u = d.uniforms.map((x) =>
    'u32' in x
      ? { type: 'uint32', data: [x.u32] }
      : 'i32' in x
        ? { type: 'int32', data: [x.i32] }
        : { type: 'float32', data: [x.f32] },
  );
  while (u.length % 4 !== 0 || u.length === 0) u.push({ type: 'int32', data: [0] });
  const bindings = [...all.map((t) => be.tensorToBinding(t)), be.makeUniforms(u)];
  for (const t of all) be.commandQueueOwnedIds.add(t.dataId as object);
  const bindGroup = be.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: bindings.map((resource, binding) => ({ binding, resource })),
  });
  be.ensureCommandEncoderReady();
  if (!be.computePassEncoder) be.computePassEncoder = be.commandEncoder!.beginComputePass({});
  be.computePassEncoder.setPipeline(pipeline);
  be.computePassEncoder.setBindGroup(0, bindGroup);
  be.computePassEncoder.dispatchWorkgroups(d.groups[0], d.groups[1], 1);
  be.dispatchCountInPass++;
  if (Number(tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE')) <= be.dispatchCountInPass) {
    be.endComputePassEncoder();
    be.submitQueue();
  }
  return outputs;
}

/** Releases an intermediate made by `dispatch` (deferred by the backend until its commands are submitted). */
export function release(backend: tf.KernelBackend, ...infos: Info[]): void {
  for (const t of infos) (backend as unknown as WebGpuBackendLike).disposeData(t.dataId);
}

/** WGSL declarations for the bindings of a dispatch: outputs, then inputs, then the uniform struct. */
export function bindings(
  outputs: [string, 'f32' | 'i32' | 'u32'][],
  inputs: [string, 'f32' | 'i32' | 'u32'][],
  uniforms: [string, 'f32' | 'i32' | 'u32'][],
): string {
  const u = [...uniforms];
  let pad = 0;
  while (u.length % 4 !== 0 || u.length === 0) u.push([`_pad${pad++}`, 'i32']);
  return [
    ...outputs.map(([n, t], i) => `@group(0) @binding(${i}) var<storage, read_write> ${n}: array<${t}>;`),
    ...inputs.map(
      ([n, t], i) => `@group(0) @binding(${outputs.length + i}) var<storage, read> ${n}: array<${t}>;`,
    ),
    `struct Uniforms { ${u.map(([n, t]) => `${n}: ${t},`).join(' ')} }`,
    `@group(0) @binding(${outputs.length + inputs.length}) var<uniform> u: Uniforms;`,
  ].join('\n');
}

export type Info = tf.TensorInfo;
export type Inputs = Record<string, Info>;
export type Attrs = Record<string, number>;
/** A registered kernel's body on the webgpu backend (the same inputs, attributes and outputs as its SIMD twin). */
export type KernelBody = (backend: tf.KernelBackend, inputs: Inputs, attrs: Attrs) => Info | Info[];

export const size = (shape: number[]) => shape.reduce((a, c) => a * c, 1);
export const f32 = (x: number): Uniform => ({ f32: x });
export const i32 = (x: number): Uniform => ({ i32: x });

/** Elementwise kernels: one invocation per element (`gid`), in workgroups of WG. */
export const WG = 64;
export const flatMain = (body: string) => `
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let gid = i32((${FLAT_GROUP}) * ${WG}u + lid);
${body}
}`;
/** Workgroups for `n` invocations of a `flatMain` kernel. */
export const threads = (n: number) => grid(Math.ceil(n / WG));

/** A new tensor of the backend for a kernel to write in place (every element, before anything reads it). */
export function alloc(backend: tf.KernelBackend, shape: number[], dtype: DType = 'float32'): Info {
  return (backend as unknown as WebGpuBackendLike).makeTensorInfo(shape, dtype);
}

export type Binding = [string, 'f32' | 'i32' | 'u32'];

/**
 * Shader text of one stage of a multi-dispatch kernel: one invocation per element, `u.n` of them (the first
 * field of the family's shared uniform struct `uniforms`), after the family's helper functions `header`.
 */
export function stageCode(
  uniforms: Binding[],
  header: string,
  outs: Binding[],
  ins: Binding[],
  body: string,
) {
  return `${bindings(outs, ins, uniforms)}
${header}
${flatMain(`  if (gid >= u.n) { return; }
${body}`)}`;
}

/** Records one stage: `n` invocations, uniforms `n` then the family's other fields `rest`. */
export function runStage(
  backend: tf.KernelBackend,
  label: string,
  code: string,
  outputs: Dispatch['outputs'],
  inputs: Info[],
  n: number,
  rest: Uniform[],
): Info[] {
  return dispatch(backend, { label, code, outputs, inputs, uniforms: [i32(n), ...rest], groups: threads(n) });
}
