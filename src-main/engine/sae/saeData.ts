/**
 * Where an SAE run's training activations and validation windows come from. Two sources share one interface:
 *
 *   corpus   (no `stream` in the config: the toy models' path) the whole corpus tokenized in memory, split 90/10;
 *            step t's batch is a function of (seed, t) (batchForStep), its activations computed whole (one step
 *            ahead on a second thread when that pays) and cut into `gradAccum` micro-batches of whole windows
 *   stream   (streamData.ts) documents streamed from a text set through a bounded activation buffer
 *
 * Either way `step(t)` gives the micro-batches of step t, and `snapshot()` what must be saved with the training
 * state for step t + 1 to continue exactly as an uninterrupted run (nothing, for the corpus source).
 */
import * as tf from '@tensorflow/tfjs';
import type { SaeTrainConfig } from '../../../src-shared/sae.ts';
import type { TensorEntry, TensorInput } from '../io/safetensors.ts';
import type { Gpt } from '../lm/gpt.ts';
import { batchForStep, loadCorpus, prepareSplits, type Batch, type Tokenizer } from '../text/index.ts';
import { activationSource } from './activationStream.ts';
import { saeEvalSet, type SaeEvalSet } from './evalSet.ts';
import type { HookActs } from './step.ts';

export interface SaeData {
  seqLen: number;
  /** The fixed validation set, in batches of whole windows of T + 1 tokens. */
  evalBatches: Batch[];
  protocol: SaeEvalSet['info'];
  pipelined: boolean;
  /** Tokens one optimizer step trains on (its micro-batches together). */
  tokensPerStep: number;
  /** The micro-batches of step t (1-based), [m, D] per hook, equal in size; owned by the caller. */
  step(t: number): Promise<HookActs[]>;
  /** What the training state must hold for step t + 1 to continue as an uninterrupted run. */
  snapshot(): { json: Record<string, unknown>; host: Record<string, TensorInput> };
  /** Figures for the run record (buffer size, epochs, ...). */
  info(): Record<string, number | string>;
  close(): Promise<void>;
}

export interface SaeDataOptions {
  config: SaeTrainConfig;
  lm: Gpt;
  tokenizer: Tokenizer;
  /** The run's hooks in forward order. */
  hooks: string[];
  seqLen: number;
  pipeline: boolean;
  /** The saved snapshot of an interrupted run. */
  resumed?: { json: Record<string, unknown> | undefined; host: Record<string, TensorEntry> };
}

/** Cuts each hook's [B·T, D] rows into `parts` equal micro-batches of whole windows (the rows stay in order). */
export function microBatches(acts: HookActs, parts: number): HookActs[] {
  if (parts === 1) return [acts];
  const split = Object.entries(acts).map(([h, x]) => [h, tf.split(x, parts, 0) as tf.Tensor2D[]] as const);
  tf.dispose(Object.values(acts));
  return Array.from({ length: parts }, (_, a) => Object.fromEntries(split.map(([h, xs]) => [h, xs[a]])));
}

/** The in-memory corpus source (see the header). */
export async function openCorpusData(o: SaeDataOptions): Promise<SaeData> {
  const { config, lm, seqLen } = o;
  const s = config.schedule;
  const corpus = loadCorpus(config.corpus);
  const splits = prepareSplits(o.tokenizer.encode(corpus.text), seqLen, {
    trainFraction: config.trainFraction,
    corpusName: corpus.name,
  });
  const parts = s.gradAccum ?? 1;
  // Evaluation windows per forward pass: a micro-batch's (fixed-v1: memory only, the figures do not depend on it;
  // the legacy set is evalBatches × batchSize windows, so it keeps the batch size).
  const evalSet = saeEvalSet(
    { evaluation: config.evaluation, evalBatches: s.evalBatches },
    splits.val,
    config.evaluation ? s.batchSize / parts : s.batchSize,
    seqLen,
    config,
  );
  const batchAt = (t: number) => batchForStep(splits.train, config.seed, t, s.batchSize, seqLen);
  const source = await activationSource(lm, o.hooks, batchAt, s.steps, o.pipeline);
  return {
    seqLen,
    evalBatches: evalSet.batches,
    protocol: evalSet.info,
    pipelined: source.pipelined,
    tokensPerStep: s.batchSize * seqLen,
    step: async (t) => microBatches(await source.activations(t), parts),
    snapshot: () => ({ json: {}, host: {} }),
    info: () => ({ source: 'corpus' }),
    close: () => source.close(),
  };
}
