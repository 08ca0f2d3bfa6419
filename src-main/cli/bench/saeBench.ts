/**
 * `bench sae`: concurrent SAE training at the tblock positions of ascii-64x4 (randomly initialised, random
 * tokens — cost does not depend on either), batch 32 × 128, timed like the peer's `sae_train_topk` /
 * `sae_train_staircase` (3 untimed warmup steps, 30 timed; each batch token counted once per step).
 */
import * as tf from '@tensorflow/tfjs';
import type { SaeArch } from '../../../src-shared/sae.ts';
import { LM_PRESETS } from '../../../src-shared/lm.ts';
import { Gpt } from '../../engine/lm/gpt.ts';
import { AdamW, cosineLr } from '../../engine/optim.ts';
import { Rng } from '../../engine/random.ts';
import { SaeSet } from '../../engine/sae/saeSet.ts';
import { saeTrainStep } from '../../engine/sae/train.ts';
import { activationSource, pipelineByDefault } from '../../engine/sae/activationStream.ts';
import type { Batch } from '../../engine/text/index.ts';
import { gflopsPerS, randomTokenBatch, throughput } from './lmBench.ts';
import type { GptConfig } from '../../../src-shared/lm.ts';

/**
 * Model FLOPs of one token of SAE training (analytic): the frozen LM's forward pass up to the last hook
 * (2 per matmul weight, 2·T·D of causal attention per layer); per SAE the dense encoder matmul (2·D·F) and the
 * sparse decode and its backward over the k active latents (≈ 10·k·D: decode, dz, dW_dec, dW_enc, db_dec);
 * for JSAE the k×k Jacobian per pair (J = A[K₁]·diag(g)·C[:, K₂], 2·k²·M, × 3 with its gradient).
 */
export function saeTrainFlopsPerToken(set: SaeSet, c: GptConfig, T: number): number {
  const D = c.dModel;
  const lastLayer = Math.max(...set.views.map((v) => Number(v.hook.split('.')[1])));
  const layers = lastLayer + 1;
  const lm = layers * (2 * (3 * D * D + D * D + 2 * D * c.dMlp) + 2 * T * D);
  const saes = set.views.reduce((a, v) => a + 2 * D * v.width + 10 * v.k * D, 0);
  const jsae = set.spec.arch === 'jsae' ? set.pairs.length * 6 * set.spec.k ** 2 * c.dMlp : 0;
  return lm + saes + jsae;
}

export async function benchSaeTraining(
  arch: SaeArch,
  opts: { steps?: number; warmup?: number; batch?: number; pipeline?: boolean } = {},
) {
  // JSAE pairs sit around an MLP: the fflayer setup (8 SAEs); the others at the tblock positions (5).
  const setup = arch === 'jsae' ? 'fflayer' : 'tblock';
  const steps = opts.steps ?? 30;
  const warmup = opts.warmup ?? 3;
  const B = opts.batch ?? 32;
  const config = LM_PRESETS['ascii-64x4'].model;
  const T = config.contextLength;
  const lm = Gpt.init(config, 125);
  const set = new SaeSet({
    arch,
    setup,
    width: 512,
    k: 10,
    dModel: config.dModel,
    nLayer: config.nLayer,
    seed: 127,
  });
  const opt = new AdamW(set.params(), { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: () => 0 });
  const hooks = set.views.map((v) => v.hook);
  const rng = new Rng(128);
  const batches = new Map<number, Batch>();
  const batchAt = (i: number): Batch => {
    if (!batches.has(i)) batches.set(i, randomTokenBatch(rng, B, T, config.vocabSize));
    return batches.get(i)!;
  };
  const source = await activationSource(
    lm,
    hooks,
    batchAt,
    warmup + steps,
    opts.pipeline ?? pipelineByDefault(),
  );
  // JSAE at the app's default λ (16, mean over tokens); the others have no penalty.
  const stepConfig = {
    arch,
    lambda: arch === 'jsae' ? 16 : 0,
    lambdaNorm: 'mean' as const,
    schedule: { gradClip: 1 },
  };
  const perStepMs: number[] = [];
  const losses: number[] = [];
  for (let i = 1; i <= warmup + steps; i++) {
    const t0 = performance.now();
    const acts = await source.activations(i);
    const stats = await saeTrainStep(
      { lm, set, opt, config: stepConfig },
      acts,
      cosineLr(i, 1e-3, 1e-4, 750, 7500),
      (_h, _idx, val, k) => val.length / k,
    );
    tf.dispose(Object.values(acts));
    if (i > warmup) {
      perStepMs.push(performance.now() - t0);
      losses.push(stats.total);
    }
  }
  await source.close();
  const figures = throughput(perStepMs, B * T);
  const flopsPerToken = saeTrainFlopsPerToken(set, config, T);
  const result = {
    ...figures,
    gflops_per_s: gflopsPerS(flopsPerToken, figures.tokens_per_s),
    model_flops_per_token: flopsPerToken,
    pipelined: source.pipelined,
    sae_params: set.numParams(),
    n_saes: set.views.length,
    batch: [B, T],
    loss_first: Math.round(losses[0] * 1e5) / 1e5,
    loss_last: Math.round(losses[losses.length - 1] * 1e5) / 1e5,
  };
  opt.dispose();
  set.dispose();
  lm.dispose();
  return result;
}
