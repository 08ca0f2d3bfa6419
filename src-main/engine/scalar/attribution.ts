/**
 * Integrated-gradient edge scores (SPEC §4.2), fast path. For downstream latent j and token n,
 *   G_j[n, i] = c_n · Σ_s ∂f_j/∂z_i (α_s z₀) = c_n · W_dec₀[i] · v_j(n),   v_j(n) = Σ_s ∂pre₁_j/∂x̂ (seeded where j is active)
 * so with reference scaling (c_n = ‖z₀,n‖/S)  A²[i, j] = W_dec₀[i] · M_j · W_dec₀[i]ᵀ,  M_j = Σ_n c_n² v_j(n) v_j(n)ᵀ,
 * which is one matmul A² = Q · vec(M) with Q[i, (a, b)] = W_dec₀[i, a] W_dec₀[i, b] (over a ≤ b, since M_j is
 * symmetric and only its upper triangle is accumulated). With textbook scaling
 * (c = z₀ᵢ/S) only the k active upstream latents of a token contribute, and A² is accumulated directly.
 *
 * v_j only needs the segment's Jacobian at the points where j is active: a position-local segment gives it
 * per token in closed form (kernel `jacobianRows`); a transformer block adds the attention's
 * vector-Jacobian product of those sparse seeds within each sequence (kernel `igAccumulateBlock`). The
 * result equals the plain algorithm's (one backward pass per j per point; see plain.ts), which the tests
 * check; only the order of floating-point sums differs.
 */
import * as tf from '@tensorflow/tfjs';
import { disposeExcept, readAndDispose, readScalars, tidy } from '../backend.ts';
import { layerNorm, linear, matMul, transpose2d } from '../kernels/ops.ts';
import { runScalarKernel, runScalarKernelAsync } from '../kernels/registry.ts';
import { decode, thresholdCodes } from '../sae/topk.ts';
import { integrationPoint, type AttributionOptions } from './plain.ts';
import type { CleanPass, PairModel } from './pair.ts';

type Lin = {
  /** Segment output [N, D]. */
  y: tf.Tensor2D;
  /** gelu′ of the MLP pre-activation [N, M]. */
  g: tf.Tensor2D;
  /** jacobianRows mode: 0 MLP, 1 DyT block half, 2 LayerNorm block half. */
  mode: number;
  norm?: tf.Tensor2D;
  rstd?: tf.Tensor1D;
  gamma?: tf.Tensor1D;
  /** Transformer block only: the attention's forward quantities. */
  attention?: { qkv: tf.Tensor; stats: tf.Tensor; attnO: tf.Tensor; yhat1: tf.Tensor; rstd1: tf.Tensor };
};

/** One integration point's inputs to the IG accumulation kernel (both the dense and the sparse pass make them). */
export interface PointInputs {
  idx1: tf.Tensor;
  val1: tf.Tensor;
  attention?: NonNullable<Lin['attention']>;
}

/**
 * The kernel's per-point inputs stacked over the S points: SAE₁'s codes and the Jacobian rows, and for a transformer
 * block the attention's forward quantities and weights its backward needs. Called inside the caller's tidy.
 */
export function stackedPointInputs(
  perPoint: PointInputs[],
  rows: tf.Tensor[],
  block: boolean,
  shape: { B: number; T: number; k1: number },
  p: (name: string) => tf.Tensor,
): Record<string, tf.Tensor> {
  const stack = (f: (q: PointInputs) => tf.Tensor) => tf.stack(perPoint.map(f));
  const base = { val1: stack((q) => q.val1), rows: tf.stack(rows) };
  if (!block) return { ...base, idx1: stack((q) => q.idx1) };
  const a = (f: (q: NonNullable<PointInputs['attention']>) => tf.Tensor) => stack((q) => f(q.attention!));
  return {
    ...base,
    idx1: stack((q) => q.idx1.reshape([shape.B, shape.T, shape.k1])),
    qkv: a((q) => q.qkv),
    stats: a((q) => q.stats),
    attnO: a((q) => q.attnO),
    yhat1: a((q) => q.yhat1),
    rstd1: a((q) => q.rstd1),
    gamma1: p('ln_1.weight'),
    wO: p('attn.c_proj.weight'),
    wQkv: p('attn.c_attn.weight'),
  };
}

function normInfo(x: tf.Tensor2D, gamma: tf.Tensor1D, eps: number) {
  const { mean, variance } = tf.moments(x, -1, true);
  const rstd = tf.rsqrt(tf.add(variance, eps));
  return {
    yhat: tf.mul(tf.sub(x, mean), rstd) as tf.Tensor2D,
    rstd: rstd.reshape([-1]) as tf.Tensor1D,
    gamma,
  };
}

/** The segment at x [B·T, D] with everything its Jacobian needs (same ops as the LM's own forward). */
export function linearise(pm: PairModel, x: tf.Tensor2D, B: number, T: number): Lin {
  const lm = pm.lm;
  const p = (n: string) => lm.params[`h.${pm.pair.layer}.${n}`];
  const { lnEps, norm2, nHead } = lm.config;
  const mlp = (h: tf.Tensor2D) => {
    // The MLP half x ↦ x + MLP(norm(x)) (or the bare MLP), keeping g and the norm's Jacobian information.
    let m = h;
    let info: Partial<Lin> = { mode: 0 };
    if (pm.pair.segment !== 'mlp') {
      const gamma = p('ln_2.weight') as tf.Tensor1D;
      if (norm2 === 'dyt') {
        const alpha = p('ln_2.alpha');
        const t = tf.tanh(tf.mul(alpha, h));
        m = tf.add(tf.mul(gamma, t), p('ln_2.bias')) as tf.Tensor2D;
        info = { mode: 1, norm: tf.mul(tf.mul(gamma, alpha), tf.sub(1, tf.square(t))) as tf.Tensor2D };
      } else {
        const n = normInfo(h, gamma, lnEps);
        m = layerNorm(h, gamma, p('ln_2.bias') as tf.Tensor1D, lnEps) as tf.Tensor2D;
        info = { mode: 2, norm: n.yhat, rstd: n.rstd, gamma };
      }
    }
    const u = linear(
      m,
      p('mlp.c_fc.weight') as tf.Tensor2D,
      p('mlp.c_fc.bias') as tf.Tensor1D,
    ) as tf.Tensor2D;
    const g = runScalarKernel('ScalarGeluGrad', { x: u, dy: tf.onesLike(u) })[0] as tf.Tensor2D;
    const gelu = runScalarKernel('ScalarGelu', { x: u })[0];
    let y = linear(
      gelu,
      p('mlp.c_proj.weight') as tf.Tensor2D,
      p('mlp.c_proj.bias') as tf.Tensor1D,
    ) as tf.Tensor2D;
    if (pm.pair.segment !== 'mlp') y = tf.add(h, y) as tf.Tensor2D;
    return { ...info, y, g } as Lin;
  };
  if (pm.pair.segment !== 'block') return mlp(x);
  // Transformer block: attention half first, then the MLP half at h_mid.
  const D = lm.config.dModel;
  const gamma1 = p('ln_1.weight') as tf.Tensor1D;
  const ln1 = normInfo(x, gamma1, lnEps);
  const qkv = linear(
    layerNorm(x, gamma1, p('ln_1.bias') as tf.Tensor1D, lnEps),
    p('attn.c_attn.weight') as tf.Tensor2D,
    p('attn.c_attn.bias') as tf.Tensor1D,
  ).reshape([B, T, 3 * D]);
  const [attnO, stats] = runScalarKernel('ScalarAttention', { qkv }, { nHead });
  const hMid = tf.add(
    x,
    linear(
      attnO.reshape([B * T, D]),
      p('attn.c_proj.weight') as tf.Tensor2D,
      p('attn.c_proj.bias') as tf.Tensor1D,
    ),
  ) as tf.Tensor2D;
  return { ...mlp(hMid), attention: { qkv, stats, attnO, yhat1: ln1.yhat, rstd1: ln1.rstd } };
}

/**
 * One batch of the attribution set: returns its contribution to M [F₁, D, D] (reference) or A² [F₀, F₁]
 * (textbook), to be summed over batches and finished with `finishAttribution`. The Jacobian-rows and
 * accumulation kernels are registered kernels (SIMD on wasm / cpu; WGSL on webgpu, the transformer block's
 * accumulation included) or run on the CPU on arrays read back (runScalarKernelAsync, e.g. on the native
 * backends), so the pass is split around them; every tensor it makes is freed before it returns.
 */
export async function attributionBatchFast(
  pm: PairModel,
  clean: CleanPass,
  opts: AttributionOptions,
): Promise<Float32Array> {
  const [B, T] = clean.tokens.shape;
  const S = opts.steps;
  const lm = pm.lm;
  const p = (n: string) => lm.params[`h.${pm.pair.layer}.${n}`];
  // Weights of the LM and the pair: used, never freed here.
  const persistent = [...Object.values(lm.params), ...Object.values(pm.up.w), ...Object.values(pm.down.w)];
  const made: unknown[] = [];
  try {
    const prep = tidy(() => {
      const codes0 = pm.upCodes(clean);
      const c = tf.div(tf.norm(codes0.val, 'euclidean', 1), S) as tf.Tensor1D;
      const down = pm.down.w;
      const cT = matMul(transpose2d(down.wEnc), transpose2d(p('mlp.c_proj.weight') as tf.Tensor2D)); // (W_pr W_enc₁)ᵀ [F₁, M]
      const wEncT = transpose2d(down.wEnc);
      const perPoint = Array.from({ length: S }, (_, s) => {
        const alpha = integrationPoint(s, S, opts.singleStepAlpha);
        const x = decode({ idx: codes0.idx, val: tf.mul(codes0.val, alpha) as tf.Tensor2D }, pm.up.w);
        const lin = linearise(pm, x, B, T);
        const xw = matMul(tf.sub(lin.y, down.bDec) as tf.Tensor2D, down.wEnc);
        // SAE₁'s active latents at this point (the seeds): TopK of the ReLU, or for a ReLU / JumpReLU SAE₁
        // pre·1[pre > θ₁]. Either way the mask is a constant and ∂z_j/∂pre_j = 1 where j is active.
        const [idx1, val1] = down.threshold
          ? (({ idx, val }) => [idx, val])(
              thresholdCodes(tf.add(xw, down.bEnc) as tf.Tensor2D, down.threshold),
            )
          : runScalarKernel('ScalarTopK', { xw, bEnc: down.bEnc }, { topk: pm.down.k, relu: 1 });
        const rowInputs: Record<string, tf.Tensor> = {
          idx1,
          val1,
          g: lin.g,
          cT,
          wFc: p('mlp.c_fc.weight'),
          wEncT,
        };
        if (lin.norm) rowInputs.norm = lin.norm;
        if (lin.rstd) rowInputs.rstd = lin.rstd;
        if (lin.gamma) rowInputs.gamma = lin.gamma;
        return { idx1, val1, rowInputs, mode: lin.mode, attention: lin.attention };
      });
      // Every point has the same slot count (k, or F₁ for a ReLU / JumpReLU SAE₁), so they stack.
      const width = perPoint[0].idx1.shape[1] as number;
      return { codes0, c, perPoint, k1: width };
    });
    made.push(prep);
    await compactThresholdCodes(pm, prep);
    const rows: tf.Tensor[] = [];
    for (const q of prep.perPoint) {
      const [r] = await runScalarKernelAsync('ScalarJacobianRows', q.rowInputs, { mode: q.mode });
      rows.push(r);
      made.push(r);
    }
    const textbook = opts.scaling === 'textbook' ? 1 : 0;
    const block = pm.pair.segment === 'block';
    const k1 = prep.k1;
    const inputs = tidy(() => ({
      c: prep.c,
      idx0: prep.codes0.idx,
      val0: prep.codes0.val,
      wDec0: pm.up.w.wDec,
      ...stackedPointInputs(prep.perPoint, rows, block, { B, T, k1 }, p),
    }));
    made.push(inputs);
    const [out] = block
      ? await runScalarKernelAsync('ScalarIgAccumulateBlock', inputs, {
          textbook,
          f1: pm.f1,
          nHead: lm.config.nHead,
        })
      : await runScalarKernelAsync('ScalarIgAccumulateLocal', inputs, { textbook, f1: pm.f1 });
    return (await readAndDispose(out)) as Float32Array;
  } finally {
    disposeExcept(made, persistent);
  }
}

type Prep = {
  codes0: { idx: tf.Tensor; val: tf.Tensor };
  perPoint: { idx1: tf.Tensor; val1: tf.Tensor; rowInputs: Record<string, tf.Tensor> }[];
  k1: number;
};

/**
 * A ReLU / JumpReLU SAE's codes carry all F slots, active ones first (topk.ts thresholdCodes); the kernels'
 * work and their row buffers scale with the slot count, so cut them to the largest active count of this batch
 * (over every α point for SAE₁) — the same codes without trailing zero-valued slots. TopK codes are untouched.
 */
async function compactThresholdCodes(pm: PairModel, prep: Prep): Promise<void> {
  const activeMax = (val: tf.Tensor) => tidy(() => tf.max(tf.sum(tf.cast(tf.greater(val, 0), 'float32'), 1)));
  const cut = (t: tf.Tensor, m: number) => {
    const out = tf.slice(t, [0, 0], [-1, m]);
    t.dispose();
    return out;
  };
  if (pm.up.w.threshold) {
    const [m] = await readScalars([activeMax(prep.codes0.val)]);
    prep.codes0.idx = cut(prep.codes0.idx, Math.max(1, m));
    prep.codes0.val = cut(prep.codes0.val, Math.max(1, m));
  }
  if (pm.down.w.threshold) {
    const m = Math.max(1, ...(await readScalars(prep.perPoint.map((q) => activeMax(q.val1)))));
    for (const q of prep.perPoint) {
      q.idx1 = q.rowInputs.idx1 = cut(q.idx1, m);
      q.val1 = q.rowInputs.val1 = cut(q.val1, m);
    }
    prep.k1 = m;
  }
}

/**
 * Edge scores A [F₀·F₁] (edge e = i·F₁ + j) from the summed batch contributions. The reference-scaled quadratic
 * form A²[i, j] = W_dec₀[i] · M_j · W_dec₀[i]ᵀ is finished on the host in float64 whatever the backend (every
 * path, SIMD, webgpu or native, hands its float32 per-batch M to the float64 sum and then here): a score far
 * below its column's largest is a difference of much larger terms, and a float32 form lost it (relative errors
 * up to 2e-2 above 1e-3 of the maximum) or clamped it to exactly 0, moving the edge into the seeded shuffle.
 */
export async function finishAttribution(
  pm: PairModel,
  summed: Float64Array | Float32Array,
  scaling: AttributionOptions['scaling'],
): Promise<Float32Array> {
  const { f0, f1, D } = pm;
  if (scaling === 'textbook') return Float32Array.from(summed, (v) => Math.sqrt(Math.max(0, v)));
  const wDec = (await pm.up.w.wDec.data()) as Float32Array;
  return referenceScores64(wDec, summed, f0, f1, D);
}

/**
 * sqrt(max(0, w_i · M_j · w_iᵀ)) for every (i, j) in float64, with w_i the rows of `wDec` [F₀, D] and M_j [D, D]
 * given by its upper triangle (a ≤ b) in `summed` [F₁, D, D] (the lower triangle is ignored).
 */
export function referenceScores64(
  wDec: ArrayLike<number>,
  summed: ArrayLike<number>,
  f0: number,
  f1: number,
  D: number,
): Float32Array {
  const w = new Float64Array(wDec);
  // Per j, the upper triangle packed row by row with the off-diagonal entries doubled: A² = Σ_a w_a Σ_{b≥a} U_ab w_b.
  const u = new Float64Array((D * (D + 1)) / 2);
  const out = new Float32Array(f0 * f1);
  for (let j = 0; j < f1; j++) {
    const m = j * D * D;
    let any = false;
    for (let a = 0, p = 0; a < D; a++)
      for (let b = a; b < D; b++, p++) {
        u[p] = (a === b ? 1 : 2) * summed[m + a * D + b];
        any ||= u[p] !== 0;
      }
    // A downstream latent never active on the attribution set has M_j = 0: its column stays exactly 0.
    if (!any) continue;
    for (let i = 0; i < f0; i++) {
      const r = i * D;
      let total = 0;
      for (let a = 0, p = 0; a < D; a++) {
        let s = 0;
        for (let b = a; b < D; b++, p++) s += u[p] * w[r + b];
        total += w[r + a] * s;
      }
      out[i * f1 + j] = Math.sqrt(Math.max(0, total));
    }
  }
  return out;
}
