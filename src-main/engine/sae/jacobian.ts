/**
 * Jacobian SAE penalty (SPEC §3.3) between the two SAEs of a pair around an MLP: loss += λ · Σ|J| / k², J the
 * k×k Jacobian of the downstream latents with respect to the upstream ones, taken at the clean activation,
 * in closed form over the active latents (never materialised densely). `sum` adds the penalty over tokens
 * (the reference; λ depends on batch size), `mean` averages it (λ comparable across batch sizes).
 */
import * as tf from '@tensorflow/tfjs';
import { tidy } from '../backend.ts';
import { matMul, transpose2d } from '../kernels/ops.ts';
import { runScalarKernel, runScalarKernelAsync } from '../kernels/registry.ts';
import type { Gpt } from '../lm/gpt.ts';
import type { SaePair } from './positions.ts';
import type { SaeSet } from './saeSet.ts';
import type { SparseCodes } from './topk.ts';

export interface JacobianStep {
  /** Σ over tokens of Σ|J|/k², a scalar tensor (read with the step's other figures). */
  sumAbs: tf.Scalar;
  /** penalty = sumAbs · penaltyPerSum (λ-weighted, in the configured convention: what is added to the loss). */
  penaltyPerSum: number;
  /** jacobian_l1 (mean over tokens of Σ|J|/k²) = sumAbs / tokens. */
  tokens: number;
  grads: [tf.Variable, tf.Tensor][];
}

/** The frozen LM pieces the closed form needs, evaluated at the clean upstream activation x [N, D]. */
export function mlpLinearisation(lm: Gpt, layer: number, x: tf.Tensor2D, segment: 'mlp' | 'ffblock') {
  return tidy(() => {
    const p = (n: string) => lm.params[`h.${layer}.${n}`];
    const wFc = p('mlp.c_fc.weight') as tf.Tensor2D;
    let m = x;
    let norm: tf.Tensor2D | undefined;
    let rstd: tf.Tensor1D | undefined;
    let gamma: tf.Tensor1D | undefined;
    let mode = 0;
    if (segment === 'ffblock') {
      gamma = p('ln_2.weight') as tf.Tensor1D;
      if (lm.config.norm2 === 'dyt') {
        mode = 1;
        const alpha = p('ln_2.alpha');
        const t = tf.tanh(tf.mul(alpha, x));
        norm = tf.mul(tf.mul(gamma, alpha), tf.sub(1, tf.square(t))) as tf.Tensor2D; // s = γα(1 − tanh²(αx))
        m = tf.add(tf.mul(gamma, t), p('ln_2.bias')) as tf.Tensor2D;
      } else {
        mode = 2;
        const { mean, variance } = tf.moments(x, -1, true);
        const r = tf.rsqrt(tf.add(variance, lm.config.lnEps));
        norm = tf.mul(tf.sub(x, mean), r) as tf.Tensor2D; // ŷ
        rstd = r.reshape([-1]) as tf.Tensor1D;
        m = tf.add(tf.mul(norm, gamma), p('ln_2.bias')) as tf.Tensor2D; // LN(x) = γ ⊙ ŷ + β
      }
    }
    const u = tf.add(matMul(m, wFc), p('mlp.c_fc.bias')) as tf.Tensor2D;
    // gelu′(u): the GELU backward kernel with a unit cotangent
    const g = runScalarKernel('ScalarGeluGrad', { x: u, dy: tf.onesLike(u) })[0] as tf.Tensor2D;
    return { mode, wFc, wPr: p('mlp.c_proj.weight') as tf.Tensor2D, g, norm, rstd, gamma };
  });
}

/**
 * The penalty's value and its gradients for one pair: the registered kernel (SIMD on wasm / cpu, its WGSL twin
 * webgpu/penalty.ts on webgpu, nothing read back). Async because on a backend without either (native TensorFlow)
 * the SIMD kernel runs on the CPU on arrays read back (runScalarKernelAsync); the returned tensors are owned by
 * the caller.
 */
export async function jacobianPenaltyStep(
  lm: Gpt,
  set: SaeSet,
  pair: SaePair,
  acts: Record<string, tf.Tensor2D>,
  codes: Record<string, SparseCodes>,
  opts: { lambda: number; norm: 'mean' | 'sum' },
): Promise<JacobianStep> {
  if (pair.segment === 'block')
    throw new Error('the Jacobian penalty needs an MLP segment (fflayer or ffblock)');
  const up = set.view(pair.up);
  const down = set.view(pair.down);
  const k = up.k;
  const N = acts[pair.up].shape[0];
  const coef = (opts.lambda / (k * k)) * (opts.norm === 'mean' ? 1 / N : 1);
  const prep = tidy(() => {
    const w1 = set.weights(up);
    const w2 = set.weights(down);
    const lin = mlpLinearisation(lm, pair.layer, acts[pair.up], pair.segment as 'mlp' | 'ffblock');
    const cT = matMul(transpose2d(w2.wEnc), transpose2d(lin.wPr)); // (W_pr W_enc_out)ᵀ [F2, M]
    const rows = lin.mode === 0 ? matMul(w1.wDec, lin.wFc) : w1.wDec; // A = W_dec_in W_fc, or W_dec_mid
    const skipT = lin.mode === 0 ? undefined : transpose2d(w2.wEnc);
    const inputs: Record<string, tf.Tensor> = {
      idx1: codes[pair.up].idx,
      val1: codes[pair.up].val,
      idx2: codes[pair.down].idx,
      val2: codes[pair.down].val,
      rows,
      wFc: lin.wFc,
      cT,
      g: lin.g,
    };
    if (skipT) inputs.skipT = skipT;
    if (lin.norm) inputs.norm = lin.norm;
    if (lin.rstd) inputs.rstd = lin.rstd;
    if (lin.mode === 2) {
      // LayerNorm: the per-token products with W_fc become three plain matmuls (see the kernel's header).
      const gamma = lin.gamma!;
      inputs.q = matMul(tf.mul(w1.wDec, gamma) as tf.Tensor2D, lin.wFc); // (W_dec_mid ⊙ γ) W_fc [F1, M]
      inputs.c0 = matMul(gamma.reshape([1, -1]) as tf.Tensor2D, lin.wFc).reshape([-1]); // γ W_fc [M]
      inputs.z = matMul(tf.mul(lin.norm!, gamma) as tf.Tensor2D, lin.wFc); // (γ ⊙ ŷ) W_fc [N, M]
    }
    return { inputs, lin };
  });
  const outs = await runScalarKernelAsync('ScalarJacobianPenalty', prep.inputs, {
    mode: prep.lin.mode,
    coef,
  });
  let result: JacobianStep | null = null;
  try {
    return (result = tidy(() => {
      const { lin } = prep;
      const [dRows, dCT, dSkipT, total, dQ] = outs;
      const sumAbs = total.reshape([]) as tf.Scalar;
      // W_dec_in: A = W_dec_in W_fc ⇒ dW_dec_in = dA W_fcᵀ.  W_enc_out: C = W_pr W_enc_out ⇒ dW_enc_out = (dCᵀ W_pr)ᵀ.
      // LN: Q = (W_dec_mid ⊙ γ) W_fc ⇒ dW_dec_mid += (dQ W_fcᵀ) ⊙ γ.
      const dWdec =
        lin.mode === 0
          ? matMul(dRows as tf.Tensor2D, transpose2d(lin.wFc))
          : lin.mode === 2
            ? tf.add(dRows, tf.mul(matMul(dQ as tf.Tensor2D, transpose2d(lin.wFc)), lin.gamma!))
            : dRows;
      let dWenc = transpose2d(matMul(dCT as tf.Tensor2D, lin.wPr));
      if (lin.mode !== 0) dWenc = tf.add(dWenc, transpose2d(dSkipT as tf.Tensor2D)) as tf.Tensor2D;
      return {
        sumAbs,
        penaltyPerSum: opts.lambda * (opts.norm === 'mean' ? 1 / N : 1),
        tokens: N,
        grads: [
          [up.dict.wDec, dWdec],
          [down.dict.wEnc, dWenc],
        ] as [tf.Variable, tf.Tensor][],
      };
    }));
  } finally {
    // Everything made for the kernel (the codes and the LM's weights are the caller's, never freed here).
    const keep = new Set<tf.Tensor>([
      ...Object.values(codes).flatMap((c) => [c.idx, c.val]),
      ...Object.values(lm.params),
      ...Object.values(set.params()),
      ...(result ? [result.sumAbs, ...result.grads.map(([, g]) => g)] : []),
    ]);
    tf.dispose(
      [...Object.values(prep.inputs), prep.lin.g, prep.lin.norm, prep.lin.rstd, ...outs].filter(
        (t): t is tf.Tensor => t !== undefined && !keep.has(t),
      ),
    );
  }
}
