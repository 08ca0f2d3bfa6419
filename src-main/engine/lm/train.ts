/**
 * Training the toy GPT (SPEC §1.2): AdamW, warmup + cosine, global clip, evaluation on a fixed set of
 * validation tokens every `evalEvery` steps (the `fixed-v1` protocol of src-shared/evalProtocol.ts: the whole
 * validation split or a stated budget, independent of the batch size; a config without `evaluation` is a run
 * made before it and keeps the legacy batches), best-validation checkpoint, and a resumable training state
 * written at every evaluation. Batches are a pure function of (seed, step), so a run resumed from its last
 * state replays exactly the steps an uninterrupted run would have taken.
 */
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { evalProtocolOf, type EvalProtocolInfo } from '../../../src-shared/evalProtocol.ts';
import type { LmTrainConfig } from '../../../src-shared/lm.ts';
import { readScalars } from '../backend.ts';
import { softmaxCrossEntropy } from '../kernels/ops.ts';
import { saveLmModel } from '../io/lmCheckpoint.ts';
import { loadTrainingState, restoreTrainingState, saveTrainingState } from '../io/trainingState.ts';
import { AdamW, cosineLr, decayMatricesOnly } from '../optim.ts';
import { ProgressMeter, type Progress } from '../progress.ts';
import {
  asciiTokenizer,
  batchForStep,
  evalBatches,
  lmValidationWindows,
  loadCorpus,
  prepareSplits,
  type Batch,
  type TokenSplit,
} from '../text/index.ts';
import { GradientSplitter } from './dataParallel.ts';
import { Gpt } from './gpt.ts';
import { validationLoss } from './validation.ts';

export class TrainingDivergedError extends Error {
  override name = 'TrainingDivergedError';
}

export class CancelledError extends Error {
  override name = 'CancelledError';
}

export interface LmEvalPoint {
  step: number;
  trainLoss: number;
  valLoss: number;
  lr: number;
  isBest: boolean;
}

export interface LmTrainOptions {
  config: LmTrainConfig;
  /** Run folder: `state.safetensors` (resume) and `best/` (model folder of the best validation step). */
  outDir: string;
  onProgress?: (p: Progress & { loss: number; lr: number }) => void;
  onEval?: (e: LmEvalPoint) => void;
  /** Checked between steps; on abort the current state is saved so the run can resume. */
  signal?: AbortSignal;
  /** Split every batch over two threads (default: when the backend is single-threaded and a second core exists). */
  parallel?: boolean;
}

export interface LmTrainResult {
  steps: number;
  params: number;
  trainLoss: number;
  valLoss: number;
  bestStep: number;
  finalValLoss: number;
  checkpoint: string;
  tokensPerSecond: number;
  /** Threads that computed the gradients (2 = data-parallel halves). */
  threads: number;
  resumedFrom: number;
  corpus: { name: string; chars: number; sha256: string };
  /** The protocol the validation losses come from, and the tokens it scored. */
  evaluation: EvalProtocolInfo & { tokens: number; windows: number };
  /** The schedule the loop ran (steps, warmup, evaluation interval, learning rates, batch). */
  schedule: LmScheduleUsed;
}

export interface LmScheduleUsed {
  steps: number;
  warmupSteps: number;
  evalEvery: number;
  lr: number;
  minLr: number;
  batchSize: number;
  seqLen: number;
}

export const BEST_DIR = 'best';

/** Mean cross-entropy (nats/token) of `gpt` over fixed batches, without gradients (one read at the end). */
export async function evaluateLoss(gpt: Gpt, batches: Batch[]): Promise<number> {
  const losses = batches.map((b) =>
    tf.tidy(() => {
      const x = tf.tensor2d(b.inputs, [b.batchSize, b.contextLength], 'int32');
      const logits = gpt.forward(x).reshape([-1, gpt.config.vocabSize]) as tf.Tensor2D;
      return softmaxCrossEntropy(logits, tf.tensor1d(b.targets, 'int32'));
    }),
  );
  const values = await readScalars(losses);
  // Summed in float64 in batch order, as before.
  return values.reduce((a, c) => a + c, 0) / batches.length;
}

export async function trainLm(opts: LmTrainOptions): Promise<LmTrainResult> {
  const { config, outDir } = opts;
  const { model, schedule: s, seed } = config;
  if (s.seqLen > model.contextLength)
    throw new Error(`seqLen ${s.seqLen} exceeds the model context ${model.contextLength}`);

  const corpus = loadCorpus(config.corpus);
  const splits = prepareSplits(asciiTokenizer.encode(corpus.text), s.seqLen, {
    trainFraction: config.trainFraction,
    corpusName: corpus.name,
  });
  // The validation set: fixed-v1 (independent of the batch size, chunked by it for memory) or a legacy run's batches.
  const valWindows = config.evaluation
    ? lmValidationWindows(splits.val, s.seqLen, config.evaluation.valTokens)
    : null;
  const legacySet = valWindows ? null : evalBatches(splits.val, s.evalBatches, s.batchSize, s.seqLen);
  const evaluate = async (): Promise<number> =>
    valWindows
      ? (await validationLoss(gpt, splits.val, valWindows, s.batchSize)).loss
      : evaluateLoss(gpt, legacySet!);

  const gpt = Gpt.init(model, seed);
  const opt = new AdamW(gpt.params, {
    beta1: s.beta1,
    beta2: s.beta2,
    eps: s.eps,
    weightDecay: decayMatricesOnly(s.weightDecay),
  });
  let step = 0;
  let best = { valLoss: Infinity, step: 0 };
  let recent: number[] = [];
  const resumed = loadTrainingState(outDir);
  if (resumed) {
    restoreTrainingState(resumed, gpt.params, opt, 'model');
    step = resumed.state.step;
    best = resumed.state.extra.best as typeof best;
    // Losses of the evaluation interval in progress (non-empty when a cancel saved the state between evaluations).
    recent = (resumed.state.extra.recent as number[] | undefined) ?? [];
  }
  const resumedFrom = step;

  // Two cores: half of every batch's gradient on a second thread (dataParallel.ts).
  const splitter = await GradientSplitter.start(gpt, s.batchSize, opts.parallel);
  const meter = new ProgressMeter(s.steps, step);
  const tokensPerStep = s.batchSize * s.seqLen;
  let lastLoss = NaN;
  let lr = 0;
  // The last evaluation: the final step always evaluates, so the final loss is that one, not a second pass.
  let lastEval = { step: -1, valLoss: NaN };

  const saveState = () =>
    saveTrainingState(outDir, gpt.params, opt.stateTensors(), { step, extra: { best, recent } });
  try {
    while (step < s.steps) {
      if (opts.signal?.aborted) {
        await saveState();
        throw new CancelledError(`cancelled at step ${step}`);
      }
      step += 1;
      lr = cosineLr(step, s.lr, s.minLr, s.warmupSteps, s.steps);
      const batch = batchForStep(splits.train as TokenSplit, seed, step, s.batchSize, s.seqLen);
      const { loss, grads } = await splitter.gradients(gpt, batch);
      lastLoss = loss;
      const gradNorm = Number.isFinite(loss) ? await opt.apply(grads, lr, s.gradClip) : NaN;
      tf.dispose(Object.values(grads));
      if (Number.isFinite(lastLoss) && !Number.isFinite(gradNorm)) {
        throw new TrainingDivergedError(
          `gradient norm became ${gradNorm} at step ${step} (loss ${lastLoss.toFixed(4)}); the run stops here and its last checkpoint is kept`,
        );
      }
      if (!Number.isFinite(lastLoss)) {
        throw new TrainingDivergedError(
          `training loss became ${lastLoss} at step ${step} (lr ${lr.toExponential(2)}); the run stops here and its last checkpoint is kept`,
        );
      }
      recent.push(lastLoss);
      // Tick unconditionally: the meter also gives the run's tokens/s, with or without a listener.
      const progress = meter.tick(step, tokensPerStep);
      opts.onProgress?.({ ...progress, loss: lastLoss, lr });

      if (step % s.evalEvery === 0 || step === s.steps) {
        const valLoss = await evaluate();
        lastEval = { step, valLoss };
        const trainLoss = recent.reduce((a, b) => a + b, 0) / recent.length;
        recent = [];
        const isBest = valLoss < best.valLoss;
        if (isBest) {
          best = { valLoss, step };
          await saveLmModel(path.join(outDir, BEST_DIR), gpt, {
            step: String(step),
            val_loss: String(valLoss),
          });
        }
        await saveState();
        opts.onEval?.({ step, trainLoss, valLoss, lr, isBest });
      }
    }
    return {
      steps: step,
      params: gpt.numParams(),
      trainLoss: lastLoss,
      valLoss: best.valLoss,
      bestStep: best.step,
      finalValLoss: lastEval.step === step ? lastEval.valLoss : await evaluate(),
      checkpoint: path.join(outDir, BEST_DIR),
      tokensPerSecond: meter.rate() * tokensPerStep,
      threads: splitter.threads,
      resumedFrom,
      corpus: { name: corpus.name, chars: corpus.source.chars, sha256: corpus.source.sha256 },
      evaluation: {
        ...evalProtocolOf(config),
        tokens: valWindows ? valWindows.tokens : s.evalBatches * s.batchSize * s.seqLen,
        windows: valWindows ? valWindows.starts.length : s.evalBatches * s.batchSize,
      },
      schedule: {
        steps: s.steps,
        warmupSteps: s.warmupSteps,
        evalEvery: s.evalEvery,
        lr: s.lr,
        minLr: s.minLr,
        batchSize: s.batchSize,
        seqLen: s.seqLen,
      },
    };
  } finally {
    await splitter.close();
    opt.dispose();
    gpt.dispose();
  }
}
