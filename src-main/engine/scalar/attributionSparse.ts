/**
 * Integrated-gradient edge scores over the active edge set only (SPEC §4.2; the dense pass is attribution.ts).
 * Pass 0 (activeSets.ts) finds C₁, the downstream latents active at some α_s on the attribution set — every
 * other column scores exactly 0 — and A₀, the active upstream latents. Pass 1 walks C₁ in column blocks sized
 * to the memory bound (one walk over the cached batches per block) and hands each block's scores to a sink:
 *
 *   quadratic (reference scaling):  M_j = Σ_n c_n² v_j(n) v_j(n)ᵀ  [D, D] per j in the block (the dense pass's
 *        kernels on compact column indices), then A²[i, j] = W_dec₀[i] · M_j · W_dec₀[i]ᵀ in float64 — the
 *        dense pass's arithmetic, restricted to C₁, so the same scores;
 *   low-rank  (reference scaling):  A²[i, j] = Σ_n (W_dec₀[i] · c_n v_j(n))², i.e. Y = W_dec₀ · Vᵀ with the rows
 *        c_n v_j(n) (one per token where j is active) stacked, squared and summed per j in float64. It needs
 *        Σ_j n_j·D floats instead of |C₁|·D² doubles and F₀·D·Σ_j n_j multiply-adds (a matmul) instead of
 *        F₀·|C₁|·D²/2 (float64 on the host): the form for GPT-2 widths, equal to the quadratic one up to float32
 *        rounding of the dot products (tested);
 *   textbook scaling (c = z₀ᵢ/S):   A²[i, j] over A₀ × C₁ (the dense kernel on compact row and column indices).
 *
 * Rows: every upstream latent with reference scaling (c does not depend on i, so W_dec₀[i]·v ≠ 0 for latents
 * that are never active), A₀ with textbook scaling.
 */
import * as tf from '@tensorflow/tfjs';
import { disposeExcept, readAndDispose, tidy } from '../backend.ts';
import { matMul, transpose2d } from '../kernels/ops.ts';
import { runScalarKernelAsync } from '../kernels/registry.ts';
import { decode } from '../sae/topk.ts';
import { batchBytesPerToken, type ActiveSets, type BatchCodes } from './activeSets.ts';
import { linearise, referenceScores64, stackedPointInputs } from './attribution.ts';
import { LowRankRows, lowRankPart, sqrtOf } from './lowRank.ts';
import type { MemoryBudget } from './memory.ts';
import type { PairModel } from './pair.ts';
import type { PairPool } from './pairPool.ts';
import { integrationPoint, type AttributionOptions } from './plain.ts';

export type AttributionForm = 'quadratic' | 'low-rank' | 'textbook';

/** Scores of rows × cols (rows null: every upstream latent), row-major. */
export type ScoreSink = (rows: Int32Array | null, cols: Int32Array, scores: Float32Array) => void;

export interface SparsePlan {
  form: AttributionForm;
  /** C₁ split into the column blocks of pass 1 (one walk over the batches each). */
  blocks: Int32Array[];
}

/** Host float64 multiply-adds per second (the quadratic finish) and float32 matmul flops (low-rank). */
const HOST_F64_RATE = 2e8;
const MATMUL_RATE = 5e9;

/** Chooses the form and the column blocks that fit what is left of `budget` (see the file comment). */
export function planSparseAttribution(
  pm: PairModel,
  act: ActiveSets,
  opts: AttributionOptions & { form?: 'auto' | 'quadratic' | 'low-rank' },
  batchTokens: number,
  budget: MemoryBudget,
): SparsePlan {
  const { D, f0 } = pm;
  const M = pm.lm.config.dMlp;
  const textbook = opts.scaling === 'textbook';
  const R = textbook ? act.up.length : f0;
  const C = act.down.length;
  const P = act.down.reduce((a, j) => a + act.downTokens[j], 0);
  const k1 = act.batches[0]?.k1 ?? pm.down.k;
  const working = batchTokens * batchBytesPerToken(pm, opts.steps, k1);
  const lowRankChunk = R * 2048 * 8; // Y [R, 2048] as a tensor and on the host
  const perColumn = (form: AttributionForm, j: number) =>
    4 * (M + D) +
    (form === 'quadratic'
      ? 12 * D * D + 4 * R
      : form === 'textbook'
        ? 16 * R
        : 4 * D * act.downTokens[j] + 12 * R);
  const fits = (form: AttributionForm) =>
    C === 0 ||
    budget.available() - working - (form === 'low-rank' ? lowRankChunk : 0) >=
      Math.max(...Array.from(act.down, (j) => perColumn(form, j)));
  let form: AttributionForm;
  if (textbook) form = 'textbook';
  else if (opts.form && opts.form !== 'auto') form = opts.form;
  else if (pm.pair.segment === 'block') form = 'quadratic';
  else {
    const quadratic = (R * C * D * D) / 2 / HOST_F64_RATE;
    const lowRank = (2 * R * D * P) / MATMUL_RATE + (R * P) / HOST_F64_RATE;
    form = fits('quadratic') && quadratic <= lowRank ? 'quadratic' : 'low-rank';
  }
  if (form === 'low-rank' && pm.pair.segment === 'block')
    throw new Error(
      'the low-rank attribution form covers position-local segments (fflayer, ffblock); a tblock pair needs the ' +
        `quadratic form, ${Math.round((12 * D * D) / 2 ** 20)} MB per downstream latent`,
    );
  const room = budget.available() - working - (form === 'low-rank' ? lowRankChunk : 0);
  const blocks: Int32Array[] = [];
  let current: number[] = [];
  let bytes = 0;
  for (const j of act.down) {
    const b = perColumn(form, j);
    if (b > room) budget.largestCount(`attribution column (${form}, latent ${j})`, b, 1, working);
    if (bytes + b > room && current.length) {
      blocks.push(Int32Array.from(current));
      current = [];
      bytes = 0;
    }
    current.push(j);
    bytes += b;
  }
  if (current.length) blocks.push(Int32Array.from(current));
  return { form, blocks };
}

/** Pass 1: every block's scores to `sink`. */
export async function sparseAttribution(
  pm: PairModel,
  act: ActiveSets,
  plan: SparsePlan,
  opts: AttributionOptions,
  sink: ScoreSink,
  budget: MemoryBudget,
  pool: PairPool,
  check?: () => void,
): Promise<void> {
  const { D, f0, f1 } = pm;
  const M = pm.lm.config.dMlp;
  const textbook = plan.form === 'textbook';
  const rows = textbook ? act.up : null;
  const R = rows ? rows.length : f0;
  // Pair-wide inputs: (W_pr W_enc₁)ᵀ [F₁, M] and W_enc₁ᵀ [F₁, D] as the dense pass computes them, gathered per
  // block; W_dec₀ rows (all, or A₀'s for textbook) with compact row indices.
  const full = 4 * f1 * (M + D) <= budget.available() / 4;
  if (full) budget.reserve('attribution encoder tables', 4 * f1 * (M + D));
  const wPr = pm.lm.params[`h.${pm.pair.layer}.mlp.c_proj.weight`] as tf.Tensor2D;
  const tables = full
    ? tidy(() => ({
        cT: matMul(transpose2d(pm.down.w.wEnc), transpose2d(wPr)),
        wEncT: transpose2d(pm.down.w.wEnc),
      }))
    : null;
  const wDec0 = rows ? tf.gather(pm.up.w.wDec, tf.tensor1d(rows, 'int32')) : pm.up.w.wDec;
  const rowSlot = new Int32Array(f0).fill(-1);
  if (rows) rows.forEach((i, r) => (rowSlot[i] = r));
  const wDecHost = plan.form === 'quadratic' ? ((await pm.up.w.wDec.data()) as Float32Array) : null;
  try {
    for (const cols of plan.blocks) {
      const C = cols.length;
      const colSlot = new Int32Array(f1).fill(-1);
      cols.forEach((j, c) => (colSlot[j] = c));
      const ids = tf.tensor1d(cols, 'int32');
      const blk = tidy(() =>
        tables
          ? { cT: tf.gather(tables.cT, ids), wEncT: tf.gather(tables.wEncT, ids) }
          : {
              cT: matMul(tf.gather(transpose2d(pm.down.w.wEnc), ids) as tf.Tensor2D, transpose2d(wPr)),
              wEncT: tf.gather(transpose2d(pm.down.w.wEnc), ids) as tf.Tensor2D,
            },
      );
      ids.dispose();
      const lowRank = plan.form === 'low-rank' ? new LowRankRows(cols, act.downTokens, D) : null;
      const summed = lowRank ? null : new Float64Array(textbook ? R * C : C * D * D);
      budget.reserve('attribution block', lowRank ? lowRank.bytes : summed!.byteLength * 1.5);
      try {
        for (const bc of act.batches) {
          check?.();
          const part = await batchPart(
            pm,
            bc,
            blk,
            colSlot,
            { ...opts, C, textbook, rowSlot, wDec0 },
            lowRank,
          );
          if (summed && part) for (let e = 0; e < part.length; e++) summed[e] += part[e];
        }
        tf.dispose([blk.cT, blk.wEncT]);
        if (lowRank) sink(null, cols, await lowRank.finish(pm, pool, budget));
        else if (textbook) sink(rows, cols, sqrtOf(summed!));
        else sink(null, cols, referenceScores64(wDecHost!, summed!, f0, C, D));
      } finally {
        budget.release('attribution block');
      }
    }
  } finally {
    if (tables) tf.dispose([tables.cT, tables.wEncT]);
    if (rows) wDec0.dispose();
    budget.release('attribution encoder tables');
  }
}

type PartOptions = AttributionOptions & {
  C: number;
  textbook: boolean;
  rowSlot: Int32Array;
  wDec0: tf.Tensor2D;
};

/** SAE₁ codes per point with columns renumbered to the block (slots outside it: value 0, skipped). */
function compactColumns(bc: BatchCodes, colSlot: Int32Array): { idx: Int32Array; val: Float32Array }[] {
  return bc.codes1.map(({ idx, val }) => {
    const i = new Int32Array(idx.length);
    const v = new Float32Array(val.length);
    for (let q = 0; q < idx.length; q++) {
      const c = colSlot[idx[q]];
      if (c >= 0 && val[q] > 0) {
        i[q] = c;
        v[q] = val[q];
      }
    }
    return { idx: i, val: v };
  });
}

/**
 * One cached batch's contribution for one column block: the dense pass (attributionBatchFast) on compact
 * indices — SAE₁ slots outside the block get value 0 (the kernels skip them), columns and (textbook) rows are
 * renumbered — giving M [C, D, D] or A² [R, C]; or, for the low-rank form, its rows c_n v_j(n) added to `lowRank`.
 */
async function batchPart(
  pm: PairModel,
  bc: BatchCodes,
  blk: { cT: tf.Tensor2D; wEncT: tf.Tensor2D },
  colSlot: Int32Array,
  o: PartOptions,
  lowRank: LowRankRows | null,
): Promise<Float32Array | null> {
  const { B, T, k1 } = bc;
  const N = B * T;
  const S = o.steps;
  const lm = pm.lm;
  const p = (n: string) => lm.params[`h.${pm.pair.layer}.${n}`];
  const persistent = [...Object.values(lm.params), ...Object.values(pm.up.w), ...Object.values(pm.down.w)];
  persistent.push(blk.cT, blk.wEncT, o.wDec0);
  const made: unknown[] = [];
  const compact = compactColumns(bc, colSlot);
  if (lowRank) {
    await lowRankPart(pm, bc, blk, compact, o, lowRank);
    return null;
  }
  try {
    const k0 = bc.codes0.width;
    const idx0 = tf.tensor2d(bc.codes0.idx, [N, k0], 'int32');
    const val0 = tf.tensor2d(bc.codes0.val, [N, k0]);
    made.push(idx0, val0);
    const perPoint = tidy(() =>
      compact.map((q, s) => {
        const alpha = integrationPoint(s, S, o.singleStepAlpha);
        const x = decode({ idx: idx0, val: tf.mul(val0, alpha) as tf.Tensor2D }, pm.up.w);
        const lin = linearise(pm, x, B, T);
        const idx1 = tf.tensor2d(q.idx, [N, k1], 'int32');
        const val1 = tf.tensor2d(q.val, [N, k1]);
        const rowInputs: Record<string, tf.Tensor> = {
          idx1,
          val1,
          g: lin.g,
          cT: blk.cT,
          wFc: p('mlp.c_fc.weight'),
          wEncT: blk.wEncT,
        };
        if (lin.norm) rowInputs.norm = lin.norm;
        if (lin.rstd) rowInputs.rstd = lin.rstd;
        if (lin.gamma) rowInputs.gamma = lin.gamma;
        return { idx1, val1, rowInputs, mode: lin.mode, attention: lin.attention };
      }),
    );
    made.push(perPoint);
    const rows: tf.Tensor[] = [];
    for (const q of perPoint) {
      const [r] = await runScalarKernelAsync('ScalarJacobianRows', q.rowInputs, { mode: q.mode });
      rows.push(r);
      made.push(r);
    }
    const block = pm.pair.segment === 'block';
    const inputs = tidy(() => {
      const c = tf.tensor1d(bc.c);
      const common: Record<string, tf.Tensor> = o.textbook
        ? {
            c,
            idx0: tf.tensor2d(
              Int32Array.from(bc.codes0.idx, (i) => Math.max(0, o.rowSlot[i])),
              [N, k0],
              'int32',
            ),
            val0,
            wDec0: o.wDec0,
          }
        : { c, idx0, val0, wDec0: o.wDec0 };
      return { ...common, ...stackedPointInputs(perPoint, rows, block, { B, T, k1 }, p) };
    });
    made.push(inputs);
    const attrs = { textbook: o.textbook ? 1 : 0, f1: o.C };
    const [out] = block
      ? await runScalarKernelAsync('ScalarIgAccumulateBlock', inputs, { ...attrs, nHead: lm.config.nHead })
      : await runScalarKernelAsync('ScalarIgAccumulateLocal', inputs, attrs);
    return (await readAndDispose(out)) as Float32Array;
  } finally {
    disposeExcept(made, persistent);
  }
}
