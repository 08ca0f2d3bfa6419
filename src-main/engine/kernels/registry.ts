/**
 * tfjs kernels backed by the SIMD module. Each is registered under a `Scalar*` kernel name for the active
 * backend; ops.ts decides per call whether to use them or the composite tfjs formulation.
 */
import * as tf from '@tensorflow/tfjs';
import { kernelBinary } from './compile.ts';
import type { KernelExports } from './exports.ts';
import { arrayHost, type KernelCall, type KernelHost } from './host.ts';

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
    k.attentionForward(
      call.input(qkv),
      out,
      stats,
      call.scratch(4 * (T + 4)),
      B,
      T,
      nHead,
      hd,
      1 / Math.sqrt(hd),
    );
  },
  ScalarAttentionGrad(k, call, { qkv, out, stats, dy }, { nHead }) {
    const [B, T, D3] = qkv.shape;
    const hd = D3 / 3 / nHead;
    const dqkv = call.output([B, T, D3]);
    const scratch = call.scratch(8 * (T + 4));
    k.attentionBackward(
      call.input(qkv),
      call.input(out),
      call.input(stats),
      call.input(dy),
      dqkv,
      scratch,
      B,
      T,
      nHead,
      hd,
      1 / Math.sqrt(hd),
    );
  },
  ScalarGelu(k, call, { x }) {
    k.geluForward(call.input(x), call.output(x.shape), size(x.shape));
  },
  ScalarGeluGrad(k, call, { x, dy }) {
    k.geluBackward(call.input(x), call.input(dy), call.output(x.shape), size(x.shape));
  },
  /** One fused AdamW step (see simd/optim.ts); outputs p′, m′, v′. */
  ScalarAdamW(k, call, { p, g, m, v }, a) {
    const n = size(p.shape);
    const pOut = call.output(p.shape);
    const mOut = call.output(p.shape);
    const vOut = call.output(p.shape);
    k.adamwStep(
      call.input(p),
      call.input(g),
      call.input(m),
      call.input(v),
      pOut,
      mOut,
      vOut,
      n,
      a.gScale,
      a.beta1,
      a.oneMinusBeta1,
      a.beta2,
      a.oneMinusBeta2,
      a.bc1,
      a.bc2,
      a.eps,
      a.lr,
      a.keep,
      a.gScale === 1 ? 0 : 1,
      a.keep === 1 ? 0 : 1,
    );
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
    k.layerNormBackward(
      call.input(x),
      call.input(gamma),
      call.input(stats),
      call.input(dy),
      dx,
      dgamma,
      dbeta,
      N,
      D,
    );
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
  /** top-k of xw + bEnc (bEnc optional), through a ReLU unless relu = 0. */
  ScalarTopK(k, call, { xw, bEnc }, { topk, relu }) {
    const [N, F] = xw.shape;
    const idx = call.output([N, topk], 'int32');
    const val = call.output([N, topk]);
    k.topkRows(call.input(xw), bEnc ? call.input(bEnc) : 0, relu ?? 1, idx, val, N, F, topk);
  },
  ScalarSparseDecode(k, call, { idx, val, wDec, bDec, x }) {
    const [N, topk] = idx.shape;
    const D = wDec.shape[1];
    const xhat = call.output([N, D]);
    const err = call.output([N]);
    k.sparseDecode(
      call.input(idx),
      call.input(val),
      call.input(wDec),
      call.input(bDec),
      x ? call.input(x) : 0,
      xhat,
      err,
      N,
      topk,
      D,
    );
  },
  ScalarTopKSaeBackward(k, call, { x, bDec, idx, val, xhat, wDec, wEncT }, { scale, detachBelow }) {
    const [N, topk] = idx.shape;
    const [F, D] = wDec.shape;
    const dWencT = call.output([F, D]);
    const dBenc = call.output([F]);
    const dWdec = call.output([F, D]);
    const dBdec = call.output([D]);
    k.topkSaeBackward(
      call.input(x),
      call.input(bDec),
      call.input(idx),
      call.input(val),
      call.input(xhat),
      call.input(wDec),
      call.input(wEncT),
      dWencT,
      dBenc,
      dWdec,
      dBdec,
      N,
      topk,
      D,
      F,
      scale,
      detachBelow,
    );
  },
  /**
   * mode 0: rows = A [F1, M]; modes 1 (DyT) / 2 (LN): rows = W_dec_mid [F1, D], with skipT = W_enc_postᵀ;
   * mode 2 also q = (W_dec_mid ⊙ γ)·W_fc [F1, M], c0 = γ·W_fc [M], z = (γ ⊙ ŷ)·W_fc [N, M], and outputs dQ.
   */
  ScalarJacobianPenalty(
    k,
    call,
    { idx1, val1, idx2, val2, rows, wFc, cT, skipT, g, norm, rstd, q, c0, z },
    { mode, coef },
  ) {
    const [N, topk] = idx1.shape;
    const [F2, M] = cT.shape;
    const F1 = rows.shape[0];
    const D = wFc.shape[0];
    const rowLen = mode === 0 ? M : D;
    const dRows = call.output([F1, rowLen]);
    const dCT = call.output([F2, M]);
    const dSkipT = call.output(mode === 0 ? [1] : [F2, D]);
    const total = call.output([1]);
    const dQ = call.output(mode === 2 ? [F1, M] : [1]);
    const scratch = call.scratch(4 * (2 * topk + topk * (2 * D + 2 * M + topk) + D + 16));
    const opt = (t: tf.TensorInfo | undefined) => (t ? call.input(t) : 0);
    k.jacobianPenalty(
      mode,
      call.input(idx1),
      call.input(val1),
      call.input(idx2),
      call.input(val2),
      call.input(rows),
      call.input(wFc),
      call.input(cT),
      opt(skipT),
      call.input(g),
      opt(norm),
      opt(rstd),
      opt(q),
      opt(c0),
      opt(z),
      dRows,
      dCT,
      dSkipT,
      dQ,
      scratch,
      total,
      N,
      topk,
      D,
      M,
      F1,
      F2,
      coef,
    );
  },
  /** Jacobian rows of the active downstream latents (SCALAR attribution); mode 0 MLP, 1 DyT block, 2 LN block. */
  ScalarJacobianRows(k, call, { idx1, val1, g, norm, rstd, gamma, cT, wFc, wEncT }, { mode }) {
    const [N, k1] = idx1.shape;
    const [D, M] = wFc.shape;
    const rows = call.output([N, k1, D]);
    const opt = (t: tf.TensorInfo | undefined) => (t ? call.input(t) : 0);
    k.jacobianRows(
      mode,
      call.input(idx1),
      call.input(val1),
      call.input(g),
      opt(norm),
      opt(rstd),
      opt(gamma),
      call.input(cT),
      call.input(wFc),
      opt(wEncT),
      rows,
      call.scratch(4 * (M + 4)),
      N,
      k1,
      D,
      M,
    );
  },
  /** Σ over points per (token, latent), then second moments M [F₁, D, D] or textbook A² [F₀, F₁]. */
  ScalarIgAccumulateLocal(k, call, { idx1, val1, rows, c, idx0, val0, wDec0 }, { textbook, f1 }) {
    const [S, N, k1] = idx1.shape;
    const [F0, D] = wDec0.shape;
    const out = call.output(textbook ? [F0, f1] : [f1, D, D]);
    k.igAccumulateLocal(
      S,
      N,
      k1,
      D,
      F0,
      f1,
      call.input(idx1),
      call.input(val1),
      call.input(rows),
      call.input(c),
      textbook,
      call.input(idx0),
      call.input(val0),
      idx0.shape[1],
      call.input(wDec0),
      out,
      call.scratch(4 * S * k1 * (D + 1) + 64),
    );
  },
  ScalarIgAccumulateBlock(
    k,
    call,
    { qkv, stats, attnO, yhat1, rstd1, gamma1, wO, wQkv, idx1, val1, rows, c, idx0, val0, wDec0 },
    { textbook, f1, nHead },
  ) {
    const [S, B, T, k1] = idx1.shape;
    const [F0, D] = wDec0.shape;
    const out = call.output(textbook ? [F0, f1] : [f1, D, D]);
    const scratch = call.scratch(4 * (2 * f1 * T * D + 4 * f1 + (2 * nHead + 2) * D) + 64);
    k.igAccumulateBlock(
      S,
      B,
      T,
      nHead,
      D,
      F0,
      f1,
      k1,
      call.input(qkv),
      call.input(stats),
      call.input(attnO),
      call.input(yhat1),
      call.input(rstd1),
      call.input(gamma1),
      call.input(wO),
      call.input(wQkv),
      call.input(idx1),
      call.input(val1),
      call.input(rows),
      call.input(c),
      textbook,
      call.input(idx0),
      call.input(val0),
      idx0.shape[1],
      call.input(wDec0),
      out,
      scratch,
    );
  },
};

/** One host per backend: each backend's kernels run against that backend's memory. */
const hosts = new Map<string, KernelHost>();

/** Registers every Scalar* kernel for `backendName` (once per process) against `host`. */
export function registerSimdKernels(backendName: string, host: KernelHost): void {
  const registered = hosts.has(backendName);
  hosts.set(backendName, host);
  if (registered) return;
  for (const [kernelName, body] of Object.entries(kernels)) {
    tf.registerKernel({
      kernelName,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const h = hosts.get(backendName)!;
        const call = h.begin(backend as tf.KernelBackend);
        body(h.exports, call, inputs as Inputs, (attrs ?? {}) as Attrs);
        const outs = call.finish();
        return outs.length === 1 ? outs[0] : outs;
      },
    });
  }
}

export function simdKernelsRegistered(backendName: string): boolean {
  return hosts.has(backendName);
}

/** Whether a Scalar* kernel (SIMD or WGSL) is registered for `backendName`. */
export function scalarKernelRegistered(name: string, backendName: string): boolean {
  return tf.getKernel(name, backendName) !== undefined;
}

export function runScalarKernel(
  name: string,
  inputs: Record<string, tf.Tensor>,
  attrs: Attrs = {},
): tf.Tensor[] {
  const out = tf.engine().runKernel(name, inputs as never, attrs as never) as tf.Tensor | tf.Tensor[];
  return Array.isArray(out) ? out : [out];
}

let hostArrays: ReturnType<typeof arrayHost> | null = null;
const fallbacks = new Map<string, number>();

/** How often each kernel ran on the CPU on arrays read back (runScalarKernelAsync's fallback), this process. */
export function hostFallbackCounts(): Record<string, number> {
  return Object.fromEntries(fallbacks);
}

/**
 * A Scalar* kernel on any backend: the registered kernel where there is one (every kernel on wasm / cpu, the
 * WGSL twins on webgpu); otherwise the SIMD kernel on the CPU, its inputs read with `await t.data()` and its
 * outputs uploaded as new tensors. This is how kernels without a WGSL twin (see webgpu/kernels.ts
 * WGSL_KERNELS) run on the webgpu backend, and every kernel on the native TensorFlow backends.
 */
export async function runScalarKernelAsync(
  name: string,
  inputs: Record<string, tf.Tensor>,
  attrs: Attrs = {},
): Promise<tf.Tensor[]> {
  if (scalarKernelRegistered(name, tf.getBackend())) return runScalarKernel(name, inputs, attrs);
  const body = kernels[name];
  if (!body) throw new Error(`unknown kernel ${name}`);
  fallbacks.set(name, (fallbacks.get(name) ?? 0) + 1);
  hostArrays ??= kernelBinary().then(arrayHost);
  const host = await hostArrays;
  const entries = Object.entries(inputs);
  const values = await Promise.all(entries.map(([, t]) => t.data() as Promise<Float32Array | Int32Array>));
  const arrays = new Map<tf.TensorInfo, Float32Array | Int32Array>(entries.map(([, t], i) => [t, values[i]]));
  const call = host.begin(arrays);
  body(host.exports, { ...call, finish: () => [] }, inputs as Inputs, attrs);
  return call.finish().map((o) => tf.tensor(o.values, o.shape, o.dtype));
}
