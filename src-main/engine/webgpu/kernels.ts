/**
 * WGSL twins of the SIMD kernels (kernels/simd/), registered under the same `Scalar*` names for the webgpu
 * backend, with the same inputs, attributes, outputs and layouts, so ops.ts, topk.ts and optim.ts call them
 * unchanged (ops.ts `useKernel` picks them per kernel; kernels without a twin take the composite tfjs path).
 *
 * Every result is deterministic: each output element is written by one invocation that sums in a fixed order,
 * and reductions across invocations go through fixed trees or fixed chunks — no float atomics. The SAE
 * backward scatters into latent rows by sorting the (token, slot) entries by latent (a bitonic sort on the
 * GPU), so each latent's row is then a gather in token order, the order the SIMD kernel adds in; the JSAE
 * penalty and SCALAR's attribution gather the same way.
 *
 * By family: sae.ts (TopK select, sparse decode, TopK SAE backward), pointwise.ts (AdamW, GELU), attention.ts,
 * penalty.ts (JSAE Jacobian penalty), attribution.ts (SCALAR Jacobian rows, IG accumulation of position-local
 * segments); dispatch.ts records them into tfjs-webgpu's command stream, sort.ts groups entries by latent.
 */
import * as tf from '@tensorflow/tfjs';
import { ablationAssemble } from './ablation.ts';
import { attentionKernels } from './attention.ts';
import { igAccumulateBlock, igAccumulateLocal, jacobianRows } from './attribution.ts';
import type { Attrs, Inputs, KernelBody } from './dispatch.ts';
import { jacobianPenalty } from './penalty.ts';
import { pointwiseKernels } from './pointwise.ts';
import { saeKernels } from './sae.ts';

const kernels: Record<string, KernelBody> = {
  ...saeKernels,
  ...pointwiseKernels,
  ...attentionKernels,
  ScalarJacobianPenalty: jacobianPenalty,
  ScalarJacobianRows: jacobianRows,
  ScalarIgAccumulateLocal: igAccumulateLocal,
  ScalarIgAccumulateBlock: igAccumulateBlock,
  ScalarAblationAssemble: ablationAssemble,
};

/** The kernels with a WGSL twin (the rest take the composite tfjs formulation on webgpu). */
export const WGSL_KERNELS = Object.keys(kernels);

let registered = false;

/** Registers every WGSL kernel for the `webgpu` backend (once per process). */
export function registerWgslKernels(): void {
  if (registered) return;
  registered = true;
  for (const [kernelName, body] of Object.entries(kernels)) {
    tf.registerKernel({
      kernelName,
      backendName: 'webgpu',
      kernelFunc: ({ inputs, backend, attrs }) =>
        body(backend as tf.KernelBackend, inputs as Inputs, (attrs ?? {}) as Attrs) as tf.TensorInfo,
    });
  }
}
