/**
 * The differentiable building blocks the models are written in. Each op has two formulations with the same
 * maths: our kernels (SIMD on the wasm / cpu backends, WGSL on webgpu where a WGSL twin exists; fast, custom
 * gradients) and plain composite tfjs ops (native TensorFlow backend, ops without a WGSL twin, and the
 * independent oracle the kernel tests compare against).
 */
import * as tf from '@tensorflow/tfjs';
import { runScalarKernel, scalarKernelRegistered, simdKernelsRegistered } from './registry.ts';

export type KernelMode = 'simd' | 'tfjs';
let forcedMode: KernelMode | null = null;

/** Force one formulation (tests compare both); `null` restores the automatic choice. */
export function setKernelMode(mode: KernelMode | null): void {
  forcedMode = mode;
}

/** 'simd' when our kernels serve this backend (SIMD or WGSL), unless forced. */
export function kernelMode(): KernelMode {
  if (forcedMode) return forcedMode;
  const backend = tf.getBackend();
  return simdKernelsRegistered(backend) || scalarKernelRegistered('ScalarTopK', backend) ? 'simd' : 'tfjs';
}

/** The SIMD (CPU) kernel set, with its CPU-specific formulations (e.g. tanh through sigmoid). */
const simd = () => kernelMode() === 'simd' && simdKernelsRegistered(tf.getBackend());

/**
 * Whether to call our kernel `name`: not switched to the composite formulation, and registered for the
 * active backend (every kernel on wasm / cpu; on webgpu those with a WGSL twin).
 */
export function useKernel(name: string): boolean {
  return kernelMode() === 'simd' && scalarKernelRegistered(name, tf.getBackend());
}

type GradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
type OpBody = (
  inputs: tf.Tensor[],
  save: (tensors: tf.Tensor[]) => void,
) => { value: tf.Tensor; gradFunc: GradFunc };

/** tf.customGrad with plain tensor-array typing: `body` gets the inputs and a save function. */
function customOp(body: OpBody): (...inputs: tf.Tensor[]) => tf.Tensor {
  const op = tf.customGrad(((...args: unknown[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    return body(args as tf.Tensor[], save);
  }) as never) as unknown as (...inputs: tf.Tensor[]) => tf.Tensor;
  return op;
}

function memoize<K, V>(make: (key: K) => V): (key: K) => V {
  const cache = new Map<K, V>();
  return (key) => {
    if (!cache.has(key)) cache.set(key, make(key));
    return cache.get(key)!;
  };
}

// ---------------------------------------------------------------------------------------------------------
// y = x @ W + b. The wasm backend's matmul is fast only without transpose flags, so the SIMD path's gradient
// materialises the transposes itself: dx = dy @ Wᵀ, dW = xᵀ @ dy.
// ---------------------------------------------------------------------------------------------------------
/** Identity in the forward pass, zero gradient (tfjs has no stop_gradient). */
export const stopGradient = customOp(([x]) => ({
  value: tf.clone(x),
  gradFunc: (dy) => tf.zerosLike(dy),
})) as <T extends tf.Tensor>(x: T) => T;

const transposeSimd = customOp(([x]) => ({
  value: runScalarKernel('ScalarTranspose2D', { x })[0],
  gradFunc: (dy) => transposeSimd(dy),
}));

export function transpose2d(x: tf.Tensor2D): tf.Tensor2D {
  return (useKernel('ScalarTranspose2D') ? transposeSimd(x) : tf.transpose(x)) as tf.Tensor2D;
}

const linearFastGrad = customOp(([x, w, b], save) => {
  save([x, w]);
  return {
    value: tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), b),
    gradFunc: (dy, [sx, sw]) => [
      tf.matMul(dy as tf.Tensor2D, transpose2d(sw as tf.Tensor2D)),
      tf.matMul(transpose2d(sx as tf.Tensor2D), dy as tf.Tensor2D),
      runScalarKernel('ScalarColumnSum', { x: dy })[0],
    ],
  };
});

const matMulFastGrad = customOp(([a, b], save) => {
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy, [sa, sb]) => [
      tf.matMul(dy as tf.Tensor2D, transpose2d(sb as tf.Tensor2D)),
      tf.matMul(transpose2d(sa as tf.Tensor2D), dy as tf.Tensor2D),
    ],
  };
});

export function matMul(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return (simd() ? matMulFastGrad(a, b) : tf.matMul(a, b)) as tf.Tensor2D;
}

/** x [..., in] @ W [in, out] (+ b [out]) → [..., out]. */
export function linear(x: tf.Tensor, w: tf.Tensor2D, b?: tf.Tensor1D): tf.Tensor {
  const [inDim, outDim] = w.shape;
  const lead = x.shape.slice(0, -1);
  const x2 = x.reshape([-1, inDim]) as tf.Tensor2D;
  let y: tf.Tensor;
  if (simd()) y = b ? linearFastGrad(x2, w, b) : matMulFastGrad(x2, w);
  else y = b ? tf.add(tf.matMul(x2, w), b) : tf.matMul(x2, w);
  return y.reshape([...lead, outDim]);
}

// ---------------------------------------------------------------------------------------------------------
// Causal self-attention on the fused projection qkv [B, T, 3D] → [B, T, D] (heads concatenated).
// ---------------------------------------------------------------------------------------------------------
/** One custom-gradient function per head count (tf.customGrad closes over non-tensor arguments). */
const attentionSimd = memoize((nHead: number) =>
  customOp(([qkv], save) => {
    const [out, stats] = runScalarKernel('ScalarAttention', { qkv }, { nHead });
    save([qkv, out, stats]);
    return {
      value: out,
      gradFunc: (dy, [sq, so, ss]) =>
        runScalarKernel('ScalarAttentionGrad', { qkv: sq, out: so, stats: ss, dy }, { nHead })[0],
    };
  }),
);

export function causalSelfAttention(qkv: tf.Tensor3D, nHead: number): tf.Tensor3D {
  const [B, T, D3] = qkv.shape;
  const D = D3 / 3;
  const hd = D / nHead;
  // The kernel works on 4-lane vectors along the head dimension: other head sizes would read past each head.
  if (useKernel('ScalarAttention') && hd % 4 === 0) return attentionSimd(nHead)(qkv) as tf.Tensor3D;
  const heads = (t: tf.Tensor) => t.reshape([B, T, nHead, hd]).transpose([0, 2, 1, 3]); // [B, H, T, hd]
  const [q, k, v] = tf.split(qkv, 3, -1).map(heads);
  const future = tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)); // 1 above the diagonal
  const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hd)), tf.mul(future, -1e9));
  const y = tf.matMul(tf.softmax(scores), v); // [B, H, T, hd]
  return y.transpose([0, 2, 1, 3]).reshape([B, T, D]) as tf.Tensor3D;
}

// ---------------------------------------------------------------------------------------------------------
// gelu_tanh(u) = ½u(1 + tanh(√(2/π)(u + 0.044715u³)))
// ---------------------------------------------------------------------------------------------------------
const geluSimd = customOp(([x], save) => {
  save([x]);
  return {
    value: runScalarKernel('ScalarGelu', { x })[0],
    gradFunc: (dy, [sx]) => runScalarKernel('ScalarGeluGrad', { x: sx, dy })[0],
  };
});

export function gelu(x: tf.Tensor): tf.Tensor {
  if (useKernel('ScalarGelu')) return geluSimd(x);
  const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
}

// ---------------------------------------------------------------------------------------------------------
// LayerNorm over the last axis (biased variance), and DyT(x) = γ ⊙ tanh(αx) + β.
// ---------------------------------------------------------------------------------------------------------
const layerNormSimd = memoize((eps: number) =>
  customOp(([x, gamma, beta], save) => {
    const [y, stats] = runScalarKernel('ScalarLayerNorm', { x, gamma, beta }, { eps });
    save([x, gamma, stats]);
    return {
      value: y,
      gradFunc: (dy, [sx, sg, ss]) =>
        runScalarKernel('ScalarLayerNormGrad', { x: sx, gamma: sg, stats: ss, dy }),
    };
  }),
);

export function layerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps = 1e-5): tf.Tensor {
  const D = x.shape[x.shape.length - 1];
  // The kernel walks rows in 4-lane vectors: other widths would read and write past each row.
  if (useKernel('ScalarLayerNorm') && D % 4 === 0)
    return layerNormSimd(eps)(x.reshape([-1, D]), gamma, beta).reshape(x.shape);
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), gamma), beta);
}

export function dyt(x: tf.Tensor, alpha: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D): tf.Tensor {
  // tanh(y) = 2σ(2y) − 1: sigmoid is a fast kernel on wasm, tanh is not.
  const t = simd()
    ? tf.sub(tf.mul(2, tf.sigmoid(tf.mul(tf.mul(alpha, 2), x))), 1)
    : tf.tanh(tf.mul(alpha, x));
  return tf.add(tf.mul(gamma, t), beta);
}

// ---------------------------------------------------------------------------------------------------------
// Token embedding lookup (table [V, D], ids int32 [N] → [N, D]) and mean softmax cross-entropy.
// The wasm backend has no gather gradient, so the composite path uses a one-hot matmul.
// ---------------------------------------------------------------------------------------------------------
/** tfjs-wasm's OneHot ignores a float32 dtype argument and writes int32 bits, so cast explicitly. */
function oneHotFloat(ids: tf.Tensor1D, depth: number): tf.Tensor2D {
  return tf.cast(tf.oneHot(ids, depth), 'float32') as tf.Tensor2D;
}

export function embedding(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  const [V, D] = table.shape;
  // The gradient kernel accumulates rows in 4-lane vectors: other widths would write past each row.
  if (!useKernel('ScalarEmbedding') || D % 4 !== 0) return tf.matMul(oneHotFloat(ids, V), table);
  // ids is not a differentiable input, but the gradient needs it: save() keeps it alive past the forward pass.
  const lookup = customOp(([t], save) => {
    save([ids]);
    return {
      value: runScalarKernel('ScalarEmbedding', { table: t, ids })[0],
      gradFunc: (dy, [savedIds]) =>
        runScalarKernel('ScalarEmbeddingGrad', { ids: savedIds, dy }, { vocab: V })[0],
    };
  });
  return lookup(table) as tf.Tensor2D;
}

/** Mean over rows of −log softmax(logits)[target]; logits [N, V], targets int32 [N]. */
export function softmaxCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
  const [N, V] = logits.shape;
  if (!useKernel('ScalarXent')) {
    return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits), oneHotFloat(targets, V)), -1))) as tf.Scalar;
  }
  const xent = customOp(([l], save) => {
    const [rowStats, probs] = runScalarKernel('ScalarXent', { logits: l, targets });
    save([probs, targets]);
    const [mx, sum, picked] = tf.split(rowStats, 3, 1);
    return {
      value: tf.mean(tf.sub(tf.add(mx, tf.log(sum)), picked)),
      gradFunc: (dy, [sp, st]) =>
        tf.mul(runScalarKernel('ScalarXentGrad', { probs: sp, targets: st }, { scale: 1 / N })[0], dy),
    };
  });
  return xent(logits) as tf.Scalar;
}
