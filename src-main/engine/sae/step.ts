/**
 * One optimizer step of every SAE in a set (SPEC §3.4), optionally over several micro-batches (gradient
 * accumulation). For micro-batches a = 1..A of equal size m (the step's N = A·m tokens):
 *
 *   rec loss     L = Σ_SAE mean_n Σ_d (x − x̂)²         ⇒  ∇L = (1/A) Σ_a ∇L_a        (L_a: the mean over part a)
 *   JSAE mean    P = λ/N Σ_n Σ|J_n|/k²                 ⇒  ∇P = (1/A) Σ_a ∇P_a        (P_a: λ/m Σ over part a)
 *   JSAE sum     P = λ   Σ_n Σ|J_n|/k²                 ⇒  ∇P =       Σ_a ∇P_a
 *
 * so the accumulated gradient equals the gradient of the whole batch (to float rounding), the global clip and
 * AdamW then act once on it. With A = 1 nothing is scaled: the step is exactly the single-batch step.
 */
import * as tf from '@tensorflow/tfjs';
import type { SaeTrainConfig } from '../../../src-shared/sae.ts';
import { readScalars, tidy } from '../backend.ts';
import type { Gpt } from '../lm/gpt.ts';
import type { AdamW } from '../optim.ts';
import { jacobianPenaltyStep } from './jacobian.ts';
import type { SaeSet, SaeView } from './saeSet.ts';
import { topkSaeStep, type SparseCodes } from './topk.ts';

/** The clean activations of one (micro-)batch at every hook of the set, [m, D] each. */
export type HookActs = Record<string, tf.Tensor2D>;

export interface SaeStepContext {
  lm: Gpt;
  set: SaeSet;
  opt: AdamW;
  config: Pick<SaeTrainConfig, 'arch' | 'lambda' | 'lambdaNorm'> & { schedule: { gradClip: number } };
}

export interface SaeStepStats {
  /** Σ_SAE loss + penalty, of the whole step (micro-batch losses averaged, as the whole batch's mean). */
  total: number;
  /** Pre-clip global gradient norm (NaN when the step was not applied). */
  gradNorm: number;
  losses: Record<string, number>;
  penalty: number;
  jacobianL1: number;
  l0: number;
}

/** Sees every SAE's codes of micro-batch `micro` (dead-latent tracking); returns that SAE's mean l0. */
export type OnCodes = (
  hook: string,
  idx: ArrayLike<number>,
  val: ArrayLike<number>,
  k: number,
  micro: number,
) => number;

/** Pads a slice's gradient to its dictionary's full size (rows [w, D] → [N, D], or columns [D, w] → [D, N]). */
function padToDict(g: tf.Tensor2D, size: number, axis: 0 | 1): tf.Tensor2D {
  const missing = size - g.shape[axis];
  if (missing === 0) return g;
  const pad: [number, number][] =
    axis === 0
      ? [
          [0, missing],
          [0, 0],
        ]
      : [
          [0, 0],
          [0, missing],
        ];
  return tf.pad(g, pad);
}

const dictSize = (v: SaeView) => v.dict.wDec.shape[0];

/** Figures of one micro-batch (losses are that part's means). */
interface MicroFigures {
  losses: Record<string, number>;
  penalty: number;
  /** Mean over this part's tokens of Σ|J|/k², averaged over pairs. */
  jacobianL1: number;
  l0: number;
}

/**
 * Gradients of one micro-batch, added into `into` (parameter name → summed gradient): the reconstruction part
 * scaled by `recScale`, the penalty part by `penScale` (1 leaves them untouched). The step's figures are read in
 * one go after the work is queued (the webgpu backend has no synchronous reads).
 */
async function accumulateMicro(
  ctx: SaeStepContext,
  acts: HookActs,
  into: Map<string, tf.Tensor>,
  scales: { rec: number; pen: number },
  onCodes: (hook: string, idx: ArrayLike<number>, val: ArrayLike<number>, k: number) => number,
): Promise<MicroFigures> {
  const { lm, set, opt, config } = ctx;
  const paramOf = new Map<tf.Variable, string>(Object.entries(opt.params).map(([n, v]) => [v, n]));
  const add = (p: tf.Variable, g: tf.Tensor, scale: number) => {
    const name = paramOf.get(p)!;
    const scaled = scale === 1 ? g : tf.tidy(() => tf.mul(g, scale));
    if (scaled !== g) g.dispose();
    const before = into.get(name);
    into.set(name, before ? tf.add(before, scaled) : scaled);
    if (before) tf.dispose([before, scaled]);
  };
  const step = tidy(() => {
    const grads: [tf.Variable, tf.Tensor][] = [];
    const losses: tf.Scalar[] = [];
    const codes: Record<string, SparseCodes> = {};
    for (const v of set.views) {
      const r = topkSaeStep(acts[v.hook], set.weights(v), v.k, v.detachBelow);
      const N = dictSize(v);
      grads.push([v.dict.wEnc, padToDict(r.grads.wEnc, N, 1)]);
      grads.push([v.dict.wDec, padToDict(r.grads.wDec, N, 0)]);
      grads.push([v.bEnc, r.grads.bEnc], [v.bDec, r.grads.bDec]);
      losses.push(r.loss);
      codes[v.hook] = r.codes;
    }
    return { grads, losses, codes };
  });
  const jacobian: { sumAbs: tf.Scalar; penaltyPerSum: number; tokens: number }[] = [];
  try {
    for (const [p, g] of step.grads) add(p, g, scales.rec);
    step.grads.length = 0;
    // The JSAE penalty per pair (its kernel may run on the CPU: async), added to the summed gradients.
    if (config.arch === 'jsae') {
      for (const pair of set.pairs) {
        const p = await jacobianPenaltyStep(lm, set, pair, acts, step.codes, {
          lambda: config.lambda,
          norm: config.lambdaNorm,
        });
        jacobian.push(p);
        for (const [v, g] of p.grads) add(v, g, scales.pen);
      }
    }
    const figures = await readScalars([...step.losses, ...jacobian.map((j) => j.sumAbs)]);
    const losses: Record<string, number> = {};
    set.views.forEach((v, i) => (losses[v.hook] = figures[i]));
    let penalty = 0;
    let jacobianL1 = 0;
    jacobian.forEach((j, i) => {
      const sumAbs = figures[set.views.length + i];
      penalty += sumAbs * j.penaltyPerSum;
      jacobianL1 += sumAbs / j.tokens / set.pairs.length;
    });
    let l0 = 0;
    for (const v of set.views) {
      const c = step.codes[v.hook];
      const [idx, val] = await Promise.all([c.idx.data(), c.val.data()]);
      l0 += onCodes(v.hook, idx, val, v.k);
    }
    return { losses, penalty, jacobianL1, l0: l0 / set.views.length };
  } finally {
    tf.dispose([
      ...step.grads.map(([, g]) => g),
      ...Object.values(step.codes).flatMap((c) => [c.idx, c.val]),
      ...jacobian.map((j) => j.sumAbs),
      ...step.losses,
    ]);
  }
}

/**
 * One training step on the clean activations of one batch, given whole (`HookActs`) or as equal micro-batches
 * (`HookActs[]`, gradient accumulation): every SAE's loss and sparse gradients, the JSAE penalty, summed
 * gradients per parameter, one AdamW update with a global clip. The activations stay the caller's.
 */
export async function saeTrainStep(
  ctx: SaeStepContext,
  batch: HookActs | HookActs[],
  lr: number,
  onCodes: OnCodes,
): Promise<SaeStepStats> {
  const micro = Array.isArray(batch) ? batch : [batch];
  const A = micro.length;
  const sizes = micro.map((m) => m[ctx.set.views[0].hook].shape[0]);
  if (sizes.some((n) => n !== sizes[0]))
    throw new Error(
      `micro-batches must be equal in size to add up to the whole batch (got ${sizes.join(', ')})`,
    );
  const scales = { rec: 1 / A, pen: ctx.config.lambdaNorm === 'sum' ? 1 : 1 / A };
  const grads = new Map<string, tf.Tensor>();
  try {
    const losses: Record<string, number> = {};
    let penalty = 0;
    let jacobianL1 = 0;
    let l0 = 0;
    for (let a = 0; a < A; a++) {
      const f = await accumulateMicro(ctx, micro[a], grads, scales, (h, i, v, k) => onCodes(h, i, v, k, a));
      for (const [hook, loss] of Object.entries(f.losses)) losses[hook] = (losses[hook] ?? 0) + loss / A;
      penalty += f.penalty * scales.pen;
      jacobianL1 += f.jacobianL1 / A;
      l0 += f.l0 / A;
    }
    const total = Object.values(losses).reduce((s, v) => s + v, 0) + penalty;
    const gradNorm = Number.isFinite(total)
      ? await ctx.opt.apply(Object.fromEntries(grads), lr, ctx.config.schedule.gradClip)
      : NaN;
    return { total, losses, penalty, jacobianL1, gradNorm, l0 };
  } finally {
    tf.dispose([...grads.values()]);
  }
}
