/**
 * tfjs kernels backed by the SIMD module. Each is registered under a `Scalar*` kernel name for the active
 * backend; ops.ts decides per call whether to use them or the composite tfjs formulation.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelExports } from './exports.ts';
import type { KernelCall, KernelHost } from './host.ts';

type Inputs = Record<string, tf.TensorInfo>;
type Attrs = Record<string, number>;
type KernelBody = (k: KernelExports, call: KernelCall, inputs: Inputs, attrs: Attrs) => void;

const size = (shape: number[]) => shape.reduce((a, c) => a * c, 1);

const kernels: Record<string, KernelBody> = {
  ScalarTranspose2D(k, call, { x }) {
    const [R, C] = x.shape;
    k.transpose2d(call.input(x), call.output([C, R]), R, C);
  },
  ScalarColumnSum(k, call, { x }) {
    const [N, C] = x.shape;
    k.columnSum(call.input(x), call.output([C]), N, C);
  },
  ScalarAttention(k, call, { qkv }, { nHead }) {
    const [B, T, D3] = qkv.shape;
    const hd = D3 / 3 / nHead;
    const out = call.output([B, T, D3 / 3]);
    const stats = call.output([B, nHead, T, 2]);
    k.attentionForward(call.input(qkv), out, stats, call.scratch(4 * (T + 4)), B, T, nHead, hd, 1 / Math.sqrt(hd));
  },
  ScalarAttentionGrad(k, call, { qkv, out, stats, dy }, { nHead }) {
    const [B, T, D3] = qkv.shape;
    const hd = D3 / 3 / nHead;
    const dqkv = call.output([B, T, D3]);
    const scratch = call.scratch(8 * (T + 4));
    k.attentionBackward(call.input(qkv), call.input(out), call.input(stats), call.input(dy), dqkv, scratch, B, T, nHead, hd, 1 / Math.sqrt(hd));
  },
  ScalarGelu(k, call, { x }) {
    k.geluForward(call.input(x), call.output(x.shape), size(x.shape));
  },
  ScalarGeluGrad(k, call, { x, dy }) {
    k.geluBackward(call.input(x), call.input(dy), call.output(x.shape), size(x.shape));
  },
  ScalarLayerNorm(k, call, { x, gamma, beta }, { eps }) {
    const [N, D] = x.shape;
    const y = call.output([N, D]);
    const stats = call.output([N, 2]);
    k.layerNormForward(call.input(x), call.input(gamma), call.input(beta), y, stats, N, D, eps);
  },
  ScalarLayerNormGrad(k, call, { x, gamma, stats, dy }) {
    const [N, D] = x.shape;
    const dx = call.output([N, D]);
    const dgamma = call.output([D]);
    const dbeta = call.output([D]);
    k.layerNormBackward(call.input(x), call.input(gamma), call.input(stats), call.input(dy), dx, dgamma, dbeta, N, D);
  },
  ScalarXent(k, call, { logits, targets }) {
    const [N, V] = logits.shape;
    const rowStats = call.output([N, 3]);
    const probs = call.output([N, V]);
    k.softmaxXentForward(call.input(logits), call.input(targets), rowStats, probs, N, V);
  },
  ScalarXentGrad(k, call, { probs, targets }, { scale }) {
    const [N, V] = probs.shape;
    k.softmaxXentBackward(call.input(probs), call.input(targets), call.output([N, V]), N, V, scale);
  },
  ScalarEmbedding(k, call, { table, ids }) {
    const [, D] = table.shape;
    const N = size(ids.shape);
    k.embeddingForward(call.input(table), call.input(ids), call.output([N, D]), N, D);
  },
  ScalarEmbeddingGrad(k, call, { ids, dy }, { vocab }) {
    const [N, D] = dy.shape;
    k.embeddingBackward(call.input(ids), call.input(dy), call.output([vocab, D]), N, vocab, D);
  },
};

const registeredFor = new Set<string>();
let activeHost: KernelHost | null = null;

/** Registers every Scalar* kernel for `backendName` (once per process) against `host`. */
export function registerSimdKernels(backendName: string, host: KernelHost): void {
  activeHost = host;
  if (registeredFor.has(backendName)) return;
  for (const [kernelName, body] of Object.entries(kernels)) {
    tf.registerKernel({
      kernelName,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const h = activeHost!;
        const call = h.begin(backend as tf.KernelBackend);
        body(h.exports, call, inputs as Inputs, (attrs ?? {}) as Attrs);
        const outs = call.finish();
        return outs.length === 1 ? outs[0] : outs;
      },
    });
  }
  registeredFor.add(backendName);
}

export function simdKernelsRegistered(backendName: string): boolean {
  return registeredFor.has(backendName) && activeHost !== null;
}

export function runScalarKernel(name: string, inputs: Record<string, tf.Tensor>, attrs: Attrs = {}): tf.Tensor[] {
  const out = tf.engine().runKernel(name, inputs as never, attrs as never) as tf.Tensor | tf.Tensor[];
  return Array.isArray(out) ? out : [out];
}
