/**
 * `bench lm`: AdamW training steps of ascii-64x4 at batch 32 × 128 on random tokens, timed like the peer's
 * `gpt_train` (3 untimed warmup steps, then 30 timed ones; tokens/s over the timed steps).
 */
import * as tf from '@tensorflow/tfjs';
import { LM_PRESETS, type GptConfig } from '../../../src-shared/lm.ts';
import { Gpt } from '../../engine/lm/gpt.ts';
import { GradientSplitter } from '../../engine/lm/dataParallel.ts';
import { AdamW, cosineLr, decayMatricesOnly } from '../../engine/optim.ts';
import { Rng } from '../../engine/random.ts';
import type { Batch } from '../../engine/text/index.ts';

/** B random windows of T + 1 tokens as inputs / next-token targets (costs do not depend on the text). */
export function randomTokenBatch(rng: Rng, B: number, T: number, vocab: number): Batch {
  const seq = Int32Array.from({ length: B * (T + 1) }, () => rng.int(vocab));
  const inputs = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    inputs.set(seq.subarray(b * (T + 1), b * (T + 1) + T), b * T);
    targets.set(seq.subarray(b * (T + 1) + 1, (b + 1) * (T + 1)), b * T);
  }
  return { inputs, targets, starts: new Int32Array(B), batchSize: B, contextLength: T };
}

export function throughput(perStepMs: number[], tokensPerStep: number) {
  const total = perStepMs.reduce((a, b) => a + b, 0);
  const sorted = [...perStepMs].sort((a, b) => a - b);
  return {
    tokens_per_s: Math.round((10 * tokensPerStep * perStepMs.length) / (total / 1000)) / 10,
    ms_per_step_mean: Math.round((100 * total) / perStepMs.length) / 100,
    ms_per_step_median: Math.round(100 * sorted[Math.floor(sorted.length / 2)]) / 100,
    tokens_per_step: tokensPerStep,
    timed_steps: perStepMs.length,
  };
}

/**
 * Model FLOPs of one training token (forward + backward = 3 × forward): 2 per weight of every matmul (the
 * attention, MLP and tied-head projections) and the causal attention's scores and weighted sum (2·T·D per layer
 * on average over positions), times 3. An analytic count of the work, not of the hardware's operations.
 */
export function lmTrainFlopsPerToken(c: GptConfig, T: number): number {
  const D = c.dModel;
  const M = c.dMlp;
  const matmulWeights = c.nLayer * (3 * D * D + D * D + 2 * D * M) + c.vocabSize * D;
  return 3 * (2 * matmulWeights + 2 * c.nLayer * T * D);
}

/** `gflops_per_s` beside tokens/s: model FLOPs per token × tokens/s. */
export const gflopsPerS = (flopsPerToken: number, tokensPerS: number) =>
  Math.round((flopsPerToken * tokensPerS) / 1e7) / 100;

export async function benchLm(
  opts: { steps?: number; warmup?: number; batch?: number; parallel?: boolean } = {},
) {
  const steps = opts.steps ?? 30;
  const warmup = opts.warmup ?? 3;
  const B = opts.batch ?? 32;
  const config = LM_PRESETS['ascii-64x4'].model;
  const T = config.contextLength;
  const gpt = Gpt.init(config, 125);
  const opt = new AdamW(gpt.params, {
    beta1: 0.9,
    beta2: 0.95,
    eps: 1e-8,
    weightDecay: decayMatricesOnly(0.1),
  });
  const splitter = await GradientSplitter.start(gpt, B, opts.parallel);
  const rng = new Rng(126);
  const randomBatch = () => randomTokenBatch(rng, B, T, config.vocabSize);
  const losses: number[] = [];
  const perStepMs: number[] = [];
  for (let i = 1; i <= warmup + steps; i++) {
    const batch = randomBatch();
    const t0 = performance.now();
    const { loss, grads } = await splitter.gradients(gpt, batch);
    await opt.apply(grads, cosineLr(i, 1e-3, 1e-5, 1000, 10000), 1.0);
    tf.dispose(Object.values(grads));
    if (i > warmup) {
      perStepMs.push(performance.now() - t0);
      losses.push(loss);
    }
  }
  const params = gpt.numParams();
  const threads = splitter.threads;
  await splitter.close();
  opt.dispose();
  gpt.dispose();
  const figures = throughput(perStepMs, B * T);
  const flopsPerToken = lmTrainFlopsPerToken(config, T);
  return {
    ...figures,
    gflops_per_s: gflopsPerS(flopsPerToken, figures.tokens_per_s),
    model_flops_per_token: flopsPerToken,
    params,
    threads,
    batch: [B, T],
    loss_first: Math.round(losses[0] * 1e4) / 1e4,
    loss_last: Math.round(losses[losses.length - 1] * 1e4) / 1e4,
  };
}
