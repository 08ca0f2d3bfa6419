/**
 * Pass 0 of the sparse attribution (attributionSparse.ts): which latents are active on the attribution set.
 *
 * Per batch of sequences it runs what the dense pass (attribution.ts attributionBatchFast) runs up to the
 * seeds — clean upstream activation, SAE₀ codes z₀, c = ‖z₀‖₂/S, and at each point α_s the segment of
 * decode₀(α_s z₀) and SAE₁'s active latents there — with the same ops, so the same codes, and keeps them on the
 * host (a few int32/float32 per token): pass 1 then needs neither the LM nor SAE₁'s encoder again.
 *
 *   A₀ = { i : z₀[n, i] > 0 for some token n }            upstream latents active on the attribution set
 *   C₁ = { j : j active at some α_s on some token }        the only columns with a non-zero score (M_j = 0 else)
 *
 * Edge (i, j) scores 0 unless j ∈ C₁, and — with textbook scaling (c = z₀ᵢ/S) — unless i ∈ A₀ too.
 */
import * as tf from '@tensorflow/tfjs';
import { readAndDispose, tidy } from '../backend.ts';
import { matMul } from '../kernels/ops.ts';
import { runScalarKernel } from '../kernels/registry.ts';
import { decode, encode } from '../sae/topk.ts';
import { linearise } from './attribution.ts';
import { codesTensors, hostEncode, hostThresholdCodes, type HostCodes } from './hostCodes.ts';
import type { MemoryBudget } from './memory.ts';
import type { PairModel } from './pair.ts';
import { integrationPoint, type AttributionOptions } from './plain.ts';

/** One attribution batch after pass 0 (host arrays; N = B·T tokens). */
export interface BatchCodes {
  B: number;
  T: number;
  /** Clean upstream activation [N, D]. */
  up: Float32Array;
  /** SAE₀ codes [N, k₀]. */
  codes0: HostCodes;
  /** ‖z₀[n]‖₂ / S [N]. */
  c: Float32Array;
  /** SAE₁ codes at each point, [S] × [N, k₁] (one width k₁ for every point of the batch). */
  codes1: { idx: Int32Array; val: Float32Array }[];
  k1: number;
}

export interface ActiveSets {
  batches: BatchCodes[];
  /** A₀, sorted. */
  up: Int32Array;
  /** C₁, sorted. */
  down: Int32Array;
  /** Per downstream latent [F₁]: tokens where it is active at some point (its rows in the low-rank form). */
  downTokens: Int32Array;
}

/** Bytes of tfjs temporaries per token of a pass-0 or pass-1 batch (estimate from the shapes, see memory.ts). */
export function batchBytesPerToken(pm: PairModel, S: number, k1: number): number {
  const { D, f1 } = pm;
  const M = pm.lm.config.dMlp;
  const seg = pm.pair.segment === 'block' ? 3 * D + 2 * pm.lm.config.nHead + 4 * D : 0;
  // xw/pre₁ [F₁] twice (tensor + host copy of a threshold SAE), the MLP's u, g, gelu [M], a dozen D-vectors,
  // per point the seeds' Jacobian rows [k₁, D] and what a block keeps for its accumulation, and one point's
  // g ⊙ C rows [k₁, M] of the low-rank form (lowRank.ts).
  return 4 * (2 * f1 + 3 * M + 12 * D + k1 * M + S * (k1 * D + M + 4 * D + seg));
}

/** Host bytes pass 0 keeps per token. */
export function cachedBytesPerToken(pm: PairModel, S: number, k0: number, k1: number): number {
  return 4 * pm.D + 8 * k0 + 4 + S * 8 * k1;
}

/** Pass 0 over `tokens` [B_total, T] in batches of `seqsPerBatch` sequences. */
export async function findActiveSets(
  pm: PairModel,
  tokens: Int32Array,
  T: number,
  seqsPerBatch: number,
  opts: AttributionOptions,
  budget?: MemoryBudget,
  check?: () => void,
): Promise<ActiveSets> {
  const total = tokens.length / T;
  const batches: BatchCodes[] = [];
  const upSeen = new Uint8Array(pm.f0);
  const downSeen = new Uint8Array(pm.f1);
  const downTokens = new Int32Array(pm.f1);
  const lastToken = new Int32Array(pm.f1).fill(-1);
  let tokenBase = 0;
  for (let b = 0; b < total; b += seqsPerBatch) {
    check?.();
    const B = Math.min(seqsPerBatch, total - b);
    const bc = await batchCodes(pm, tokens.subarray(b * T, (b + B) * T), B, T, opts);
    const N = B * T;
    budget?.reserve(
      `pass-0 codes ${batches.length}`,
      bc.up.byteLength +
        8 * bc.codes0.idx.length +
        4 * N +
        bc.codes1.reduce((a, q) => a + q.idx.byteLength + q.val.byteLength, 0),
    );
    batches.push(bc);
    const { idx, val } = bc.codes0;
    for (let q = 0; q < idx.length; q++) if (val[q] > 0) upSeen[idx[q]] = 1;
    for (let n = 0; n < N; n++)
      for (const p of bc.codes1)
        for (let q = n * bc.k1; q < (n + 1) * bc.k1; q++) {
          if (!(p.val[q] > 0)) continue;
          const j = p.idx[q];
          downSeen[j] = 1;
          if (lastToken[j] !== tokenBase + n) {
            lastToken[j] = tokenBase + n;
            downTokens[j]++;
          }
        }
    tokenBase += N;
  }
  const which = (seen: Uint8Array) => {
    const out: number[] = [];
    seen.forEach((s, i) => s && out.push(i));
    return Int32Array.from(out);
  };
  return { batches, up: which(upSeen), down: which(downSeen), downTokens };
}

/** Releases what findActiveSets reserved. */
export function releaseActiveSets(act: ActiveSets, budget?: MemoryBudget): void {
  act.batches.forEach((_, q) => budget?.release(`pass-0 codes ${q}`));
}

async function batchCodes(
  pm: PairModel,
  data: Int32Array,
  B: number,
  T: number,
  opts: AttributionOptions,
): Promise<BatchCodes> {
  const S = opts.steps;
  const N = B * T;
  const t = tf.tensor2d(data, [B, T], 'int32');
  const up = tidy(() => pm.upOnly(t).reshape([N, pm.D]) as tf.Tensor2D);
  t.dispose();
  const upHost = (await up.data()) as Float32Array;
  const codes0 = await hostEncode(up, pm.up.w, pm.up.k, (x) => encode(x, pm.up.w, pm.up.k));
  up.dispose();
  const z0 = codesTensors(codes0, N);
  const c = (await readAndDispose(tidy(() => tf.div(tf.norm(z0.val, 'euclidean', 1), S)))) as Float32Array;
  const down = pm.down.w;
  const codes1: { idx: Int32Array; val: Float32Array }[] = [];
  const widths: number[] = [];
  try {
    for (let s = 0; s < S; s++) {
      const alpha = integrationPoint(s, S, opts.singleStepAlpha);
      // As attributionBatchFast: x = decode₀(α z₀), the segment, xw = (y − b_dec₁) W_enc₁, then SAE₁'s seeds.
      const xw = tidy(() => {
        const x = decode({ idx: z0.idx, val: tf.mul(z0.val, alpha) as tf.Tensor2D }, pm.up.w);
        const lin = linearise(pm, x, B, T);
        return matMul(tf.sub(lin.y, down.bDec) as tf.Tensor2D, down.wEnc);
      });
      if (down.threshold) {
        const pre = tidy(() => tf.add(xw, down.bEnc));
        xw.dispose();
        const [p, theta] = await Promise.all([readAndDispose(pre), down.threshold.data()]);
        const h = hostThresholdCodes(p as Float32Array, theta as Float32Array, N, pm.f1);
        codes1.push(h);
        widths.push(h.width);
      } else {
        const [idx, val] = tidy(() =>
          runScalarKernel('ScalarTopK', { xw, bEnc: down.bEnc }, { topk: pm.down.k, relu: 1 }),
        );
        xw.dispose();
        const [i, v] = await Promise.all([readAndDispose(idx), readAndDispose(val)]);
        codes1.push({ idx: i as Int32Array, val: v as Float32Array });
        widths.push(pm.down.k);
      }
    }
  } finally {
    tf.dispose([z0.idx, z0.val]);
  }
  // One width for every point (a ReLU / JumpReLU SAE₁: the largest active count of the batch, as
  // compactThresholdCodes cuts them); the padding slots hold value 0.
  const k1 = Math.max(...widths);
  const padded = codes1.map((p, s) => (widths[s] === k1 ? p : pad(p, N, widths[s], k1)));
  return { B, T, up: upHost, codes0, c, codes1: padded, k1 };
}

function pad(p: { idx: Int32Array; val: Float32Array }, N: number, w: number, k: number) {
  const out = { idx: new Int32Array(N * k), val: new Float32Array(N * k) };
  for (let n = 0; n < N; n++) {
    out.idx.set(p.idx.subarray(n * w, (n + 1) * w), n * k);
    out.val.set(p.val.subarray(n * w, (n + 1) * w), n * k);
  }
  return out;
}
