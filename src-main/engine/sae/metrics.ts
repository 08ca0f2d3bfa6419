/**
 * SAE evaluation (SPEC §3.4, SAELens/SAEBench names), on fixed validation batches (any sizes: per-batch means are
 * weighted by the batch's tokens, so chunking a token set differently gives the same figures):
 *   mse                 mean over tokens of Σ_d (x − x̂)²
 *   explained_variance  1 − FVU, FVU = Σ_n ‖x_n − x̂_n‖² / Σ_n ‖x_n − x̄‖²   (pooled over the evaluation set)
 *   l0                  mean number of non-zero codes per token
 *   l0_per_chunk        staircase: mean number of active latents in each chunk c ≤ p (rows sum to ≈ l0)
 *   ce_loss_increase    CE(with this SAE's reconstruction spliced in) − CE(clean), nats/token
 *   kl_div              mean KL(clean ‖ spliced) of the next-token distributions
 *   compound_*          the same with every SAE of the run spliced at once
 * Splicing replaces the hook's value in the forward pass, so an ffblock `resid_mid` reconstruction feeds
 * both the MLP and the skip path. A spliced pass starts at the hook from the clean pass's values (the hook and the
 * residuals its block still needs), which is the same computation as a pass from the tokens, without repeating
 * the blocks before the hook (at GPT-2's block 11 that is 11 of 12 blocks per SAE).
 */
import * as tf from '@tensorflow/tfjs';
import { readAndDispose, readScalar, tidy } from '../backend.ts';
import { softmaxCrossEntropy } from '../kernels/ops.ts';
import { BLOCK_STAGES, type BlockStage, type Gpt } from '../lm/gpt.ts';
import type { Batch } from '../text/index.ts';
import type { SaeSet, SaeView } from './saeSet.ts';
import { decode, encode } from './topk.ts';

export interface SaeEval {
  hook: string;
  d_sae: number;
  mse: number;
  explained_variance: number;
  l0: number;
  ce_loss_increase: number;
  kl_div: number;
  l0_per_chunk: number[] | null;
}

export interface SetEval {
  clean_ce: number;
  saes: SaeEval[];
  compound_ce_loss_increase: number;
  compound_kl_div: number;
}

/** x̂ for activations of any leading shape [..., D]. */
export function reconstruct(set: SaeSet, view: SaeView, x: tf.Tensor): tf.Tensor {
  return tidy(() => {
    const D = x.shape[x.shape.length - 1];
    const w = set.weights(view);
    const codes = encode(x.reshape([-1, D]) as tf.Tensor2D, w, view.k);
    return decode(codes, w).reshape(x.shape);
  });
}

type Patch = Record<string, (x: tf.Tensor3D) => tf.Tensor3D>;

/**
 * The residual-stream values of the hook's block before it, which a pass starting at the hook may still need
 * (Gpt.run `from.context`: resid_mid for the MLP's skip add; never the hook itself, which the patch replaces).
 */
function contextHooks(hook: string): string[] {
  const m = /^blocks\.(\d+)\.(.+)$/.exec(hook);
  if (!m) return [];
  const at = BLOCK_STAGES.indexOf(m[2] as BlockStage);
  return (['hook_resid_pre', 'hook_resid_mid'] as const)
    .filter((stage) => BLOCK_STAGES.indexOf(stage) < at)
    .map((stage) => `blocks.${m[1]}.${stage}`);
}

/**
 * CE and log-probabilities of a batch: the clean pass from the tokens (capturing `capture`), or a spliced pass
 * from `start` (a hook whose clean value and context are in `clean`) with `patch` applied.
 */
async function ceAndLogProbs(
  gpt: Gpt,
  b: Batch,
  opts: { capture?: string[]; start?: string; clean?: Record<string, tf.Tensor3D>; patch?: Patch } = {},
): Promise<{ ce: number; logp: tf.Tensor2D; cache: Record<string, tf.Tensor3D> }> {
  const { ce, logp, cache } = tidy(() => {
    const from = opts.start
      ? {
          hook: opts.start,
          value: opts.clean![opts.start],
          context: Object.fromEntries(contextHooks(opts.start).map((h) => [h, opts.clean![h]])),
        }
      : undefined;
    const run = gpt.run({
      ...(from ? { from } : { tokens: tf.tensor2d(b.inputs, [b.batchSize, b.contextLength], 'int32') }),
      patch: opts.patch,
      capture: opts.capture,
    });
    const flat = run.logits!.reshape([-1, gpt.config.vocabSize]) as tf.Tensor2D;
    return {
      ce: softmaxCrossEntropy(flat, tf.tensor1d(b.targets, 'int32')),
      logp: tf.logSoftmax(flat) as tf.Tensor2D,
      cache: run.cache,
    };
  });
  return { ce: await readScalar(ce), logp, cache };
}

/** Mean KL(P‖Q) per token from log-probabilities [N, V]. */
function meanKl(logp: tf.Tensor2D, logq: tf.Tensor2D): Promise<number> {
  return readScalar(tidy(() => tf.mean(tf.sum(tf.mul(tf.exp(logp), tf.sub(logp, logq)), -1))));
}

export async function evaluateSaeSet(gpt: Gpt, set: SaeSet, batches: Iterable<Batch>): Promise<SetEval> {
  const views = set.views;
  const acc = views.map(() => ({
    err: 0,
    sumSq: 0,
    sum: null as Float64Array | null,
    n: 0,
    l0: 0,
    chunks: null as Float64Array | null,
    ce: 0,
    kl: 0,
  }));
  let cleanCe = 0;
  let compoundCe = 0;
  let compoundKl = 0;
  const spliceOne = (v: SaeView) => ({ [v.hook]: (x: tf.Tensor3D) => reconstruct(set, v, x) as tf.Tensor3D });
  const spliceAll = Object.assign({}, ...views.map(spliceOne));
  // Views are in forward order (setupPositions), so the compound pass starts at the first one.
  const firstHook = views[0].hook;

  let tokens = 0;
  for (const b of batches) {
    const n = b.batchSize * b.contextLength;
    tokens += n;
    // One clean pass: its logits, every SAE's activation and the residuals a pass from each hook needs.
    const hooks = views.map((v) => v.hook);
    const capture = [...new Set([...hooks, ...hooks.flatMap(contextHooks)])];
    const clean = await ceAndLogProbs(gpt, b, { capture });
    cleanCe += clean.ce * n;
    const acts = clean.cache;
    for (const [i, v] of views.entries()) {
      const a = acc[i];
      const D = acts[v.hook].shape[2];
      // The slices, codes and reconstruction are freed in the tidy; the four results once read.
      const t = tidy(() => {
        const x = acts[v.hook].reshape([-1, D]) as tf.Tensor2D;
        const w = set.weights(v);
        const codes = encode(x, w, v.k);
        return { sq: tf.sum(tf.square(tf.sub(x, decode(codes, w)))), x: x.clone(), ...codes };
      });
      const [sq, xs, idx, val] = await Promise.all([t.sq, t.x, t.idx, t.val].map(readAndDispose));
      const err = sq[0];
      a.err += err;
      a.sum ??= new Float64Array(D);
      for (let t = 0; t < xs.length; t++) {
        a.sum[t % D] += xs[t];
        a.sumSq += xs[t] * xs[t];
      }
      a.n += xs.length / D;
      if (v.chunk) a.chunks ??= new Float64Array(Math.ceil(v.width / v.chunk));
      for (let j = 0; j < val.length; j++) {
        if (val[j] <= 0) continue;
        a.l0 += 1;
        if (a.chunks && v.chunk) a.chunks[Math.floor(idx[j] / v.chunk)] += 1;
      }
      const spliced = await ceAndLogProbs(gpt, b, { start: v.hook, clean: acts, patch: spliceOne(v) });
      a.ce += (spliced.ce - clean.ce) * n;
      a.kl += (await meanKl(clean.logp, spliced.logp)) * n;
      spliced.logp.dispose();
    }
    const all = await ceAndLogProbs(gpt, b, { start: firstHook, clean: acts, patch: spliceAll });
    compoundCe += (all.ce - clean.ce) * n;
    compoundKl += (await meanKl(clean.logp, all.logp)) * n;
    tf.dispose([all.logp, clean.logp, ...Object.values(acts)]);
  }

  return {
    clean_ce: cleanCe / tokens,
    compound_ce_loss_increase: compoundCe / tokens,
    compound_kl_div: compoundKl / tokens,
    saes: views.map((v, i) => {
      const a = acc[i];
      // Σ_n ‖x_n − x̄‖² = Σ x² − n·‖x̄‖²
      const meanSq = Array.from(a.sum!).reduce((s, t) => s + (t / a.n) ** 2, 0);
      const totalVar = a.sumSq - a.n * meanSq;
      return {
        hook: v.hook,
        d_sae: v.width,
        mse: a.err / a.n,
        explained_variance: 1 - a.err / totalVar,
        l0: a.l0 / a.n,
        ce_loss_increase: a.ce / tokens,
        kl_div: a.kl / tokens,
        l0_per_chunk: a.chunks ? Array.from(a.chunks, (c) => c / a.n) : null,
      };
    }),
  };
}
