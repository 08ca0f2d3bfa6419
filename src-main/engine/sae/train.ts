/**
 * Concurrent SAE training (SPEC §3.4): the LM is frozen; each step runs it on the step's tokens, every SAE of the
 * run encodes the clean activation at its hook, the losses are summed (plus the JSAE Jacobian penalty), and one
 * AdamW step with a global gradient clip updates all SAEs (step.ts; over `gradAccum` micro-batches when set).
 * The tokens come from the in-memory corpus or, with `stream`, from a text set through a bounded activation
 * buffer (saeData.ts, streamData.ts). Evaluation every `evalEvery` steps keeps the best checkpoint of each
 * parameter group; the resumable state (parameters, AdamW moments, the data source's snapshot) is written at
 * every evaluation, every `checkpointEvery` steps and on cancel. Evaluation uses the `fixed-v1` token set (src-shared/evalProtocol.ts;
 * independent of the batch size) or, for a run made before it, the legacy batches.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import type { SaeTrainConfig } from '../../../src-shared/sae.ts';
import { loadTrainingState, restoreTrainingState, saveTrainingState } from '../io/trainingState.ts';
import type { Gpt } from '../lm/gpt.ts';
import { CancelledError, TrainingDivergedError } from '../lm/train.ts';
import { AdamW, cosineLr } from '../optim.ts';
import { ProgressMeter, type Progress } from '../progress.ts';
import { asciiTokenizer, type Tokenizer } from '../text/index.ts';
import { pipelineByDefault } from './activationStream.ts';
import { loadGroup, saveGroup } from './checkpoint.ts';
import type { SaeEvalSet } from './evalSet.ts';
import { evaluateSaeSet, type SetEval } from './metrics.ts';
import { openCorpusData, type SaeData } from './saeData.ts';
import { SaeSet } from './saeSet.ts';
import { saeTrainStep } from './step.ts';
import { openStreamData } from './streamData.ts';

export { saeTrainStep, type SaeStepContext, type SaeStepStats } from './step.ts';

export interface SaeTrainOptions {
  config: SaeTrainConfig;
  lm: Gpt;
  /** The LM's tokenizer (default: the character tokenizer of the toy models). */
  tokenizer?: Tokenizer;
  outDir: string;
  /** Compute the LM activations ahead on a second thread (default: when cores and backend allow). */
  pipeline?: boolean;
  onProgress?: (p: Progress & { loss: number; l0: number; lr: number }) => void;
  /** Training-loss points (per SAE scope and total) every few steps. */
  onTrainMetrics?: (step: number, scope: string, values: Record<string, number>) => void;
  onEval?: (
    step: number,
    evaluation: SetEval,
    extra: { jacobian_l1?: number; frac_alive: Record<string, number> },
  ) => void;
  /** The resumable state was written at `step` between evaluations (schedule.checkpointEvery). */
  onCheckpoint?: (step: number) => void;
  signal?: AbortSignal;
}

export interface SaeTrainResult {
  steps: number;
  seqLen: number;
  resumedFrom: number;
  params: number;
  tokensPerSecond: number;
  evaluation: SetEval;
  fracAlive: Record<string, number>;
  jacobianL1: number | null;
  bestSteps: Record<string, number>;
  set: SaeSet;
  /** The protocol the metrics come from, and the validation tokens and windows it used. */
  protocol: SaeEvalSet['info'];
  /** The schedule the loop ran. */
  schedule: {
    steps: number;
    warmupSteps: number;
    evalEvery: number;
    lr: number;
    minLr: number;
    batchSize: number;
    seqLen: number;
    gradAccum: number;
  };
  /** Where the activations came from (stream: buffer size and bytes, epochs, windows read). */
  data: Record<string, number | string>;
}

export async function trainSaes(opts: SaeTrainOptions): Promise<SaeTrainResult> {
  const { config, lm, outDir } = opts;
  const s = { ...config.schedule, seqLen: config.schedule.seqLen ?? lm.config.contextLength };
  const gradAccum = s.gradAccum ?? 1;
  if (s.seqLen > lm.config.contextLength)
    throw new Error(`seqLen ${s.seqLen} exceeds the LM context ${lm.config.contextLength}`);
  const set = new SaeSet({
    arch: config.arch,
    setup: config.setup,
    width: config.width,
    k: config.k,
    dModel: lm.config.dModel,
    nLayer: lm.config.nLayer,
    seed: config.seed,
    layers: config.layers,
  });
  const hooks = [...new Set(set.views.map((v) => v.hook))];
  const params = set.params();
  const opt = new AdamW(params, { beta1: s.beta1, beta2: s.beta2, eps: s.eps, weightDecay: () => 0 });

  // Token count at which each latent last fired, for frac_alive (a latent is dead after deadWindowTokens).
  const lastFired = new Map<string, Float64Array>(
    set.views.map((v) => [v.hook, new Float64Array(v.width).fill(-1)]),
  );
  let step = 0;
  let best: Record<string, { loss: number; step: number }> = {};
  let data: SaeData | null = null;
  try {
    const resumed = loadTrainingState(outDir);
    if (resumed) {
      restoreTrainingState(resumed, params, opt, 'SAE configuration');
      step = resumed.state.step;
      best = resumed.state.extra.best as typeof best;
      const fired = resumed.state.extra.lastFired as Record<string, number[]>;
      for (const [hook, arr] of Object.entries(fired)) lastFired.get(hook)?.set(arr);
    }
    const open = config.stream ? openStreamData : openCorpusData;
    data = await open({
      config,
      lm,
      tokenizer: opts.tokenizer ?? asciiTokenizer,
      hooks,
      seqLen: s.seqLen,
      pipeline: opts.pipeline ?? pipelineByDefault(),
      resumed: resumed
        ? { json: resumed.state.extra.data as Record<string, unknown> | undefined, host: resumed.host }
        : undefined,
    });
    const src = data;
    const tokensPerStep = src.tokensPerStep;
    const microTokens = tokensPerStep / gradAccum;
    const resumedFrom = step;
    const meter = new ProgressMeter(s.steps, step);
    const logEvery = Math.max(1, Math.round(s.evalEvery / 10));
    const running = new Map<string, number>();
    let lastJacobianL1 = 0;
    let lastEval: { step: number; evaluation: SetEval } | null = null;

    const saveState = async () => {
      fs.mkdirSync(outDir, { recursive: true }); // a checkpoint or a cancel may come before the first evaluation
      const snap = src.snapshot();
      await saveTrainingState(
        outDir,
        params,
        opt.stateTensors(),
        {
          step,
          extra: {
            best,
            lastFired: Object.fromEntries([...lastFired].map(([h, a]) => [h, Array.from(a)])),
            data: snap.json,
          },
        },
        snap.host,
      );
    };
    const groupLoss = (evaluation: SetEval, hooksOfGroup: string[]) =>
      hooksOfGroup.reduce((sum, h) => sum + evaluation.saes.find((e) => e.hook === h)!.mse, 0);
    const fracAlive = () => {
      const tokensSeen = step * tokensPerStep;
      const out: Record<string, number> = {};
      for (const [hook, arr] of lastFired) {
        let alive = 0;
        for (const t of arr) if (t >= 0 && tokensSeen - t <= s.deadWindowTokens) alive++;
        out[hook] = alive / arr.length;
      }
      return out;
    };

    while (step < s.steps) {
      if (opts.signal?.aborted) {
        await saveState();
        throw new CancelledError(`cancelled at step ${step}`);
      }
      step += 1;
      const lr = cosineLr(step, s.lr, s.minLr, s.warmupSteps, s.steps);
      const tokensBefore = (step - 1) * tokensPerStep;
      const micro = await src.step(step);
      let stepStats;
      try {
        stepStats = await saeTrainStep({ lm, set, opt, config }, micro, lr, (hook, idx, val, k, a) =>
          recordFiring(lastFired.get(hook)!, idx, val, k, tokensBefore + a * microTokens),
        );
      } finally {
        tf.dispose(micro.flatMap((m) => Object.values(m)));
      }
      if (!Number.isFinite(stepStats.total)) {
        throw new TrainingDivergedError(
          `SAE training loss became ${stepStats.total} at step ${step} (lr ${lr.toExponential(2)})`,
        );
      }
      lastJacobianL1 = stepStats.jacobianL1;
      for (const [hook, loss] of Object.entries(stepStats.losses))
        running.set(hook, (running.get(hook) ?? 0) + loss);
      running.set('', (running.get('') ?? 0) + stepStats.total);
      if (step % logEvery === 0) {
        for (const [scope, sum] of running)
          opts.onTrainMetrics?.(step, scope, { train_loss: sum / logEvery });
        running.clear();
      }
      // Tick unconditionally: the meter also gives the run's tokens/s, with or without a listener.
      const progress = meter.tick(step, tokensPerStep);
      opts.onProgress?.({ ...progress, loss: stepStats.total, l0: stepStats.l0, lr });

      if (step % s.evalEvery === 0 || step === s.steps) {
        const evaluation = await evaluateSaeSet(lm, set, src.evalBatches);
        lastEval = { step, evaluation };
        for (const g of set.groups) {
          const loss = groupLoss(evaluation, g.hooks);
          if (!(g.name in best) || loss < best[g.name].loss) {
            best[g.name] = { loss, step };
            await saveGroup(outDir, set, g);
          }
        }
        await saveState();
        opts.onEval?.(step, evaluation, {
          frac_alive: fracAlive(),
          jacobian_l1: config.arch === 'jsae' ? lastJacobianL1 : undefined,
        });
      } else if (s.checkpointEvery && step % s.checkpointEvery === 0) {
        await saveState();
        opts.onCheckpoint?.(step);
      }
    }

    // Report and export the best checkpoint of every group. When every group's best is the last step, the set
    // already holds it and its evaluation is the last one (the same parameters on the same set: skipped).
    const bestIsLast = lastEval?.step === step && set.groups.every((g) => best[g.name]?.step === step);
    if (!bestIsLast) for (const g of set.groups) loadGroup(outDir, set, g);
    const evaluation = bestIsLast ? lastEval!.evaluation : await evaluateSaeSet(lm, set, src.evalBatches);
    return {
      steps: step,
      seqLen: s.seqLen,
      resumedFrom,
      params: set.numParams(),
      tokensPerSecond: meter.rate() * tokensPerStep,
      evaluation,
      fracAlive: fracAlive(),
      jacobianL1: config.arch === 'jsae' ? lastJacobianL1 : null,
      bestSteps: Object.fromEntries(Object.entries(best).map(([g, b]) => [g, b.step])),
      set,
      protocol: src.protocol,
      schedule: {
        steps: s.steps,
        warmupSteps: s.warmupSteps,
        evalEvery: s.evalEvery,
        lr: s.lr,
        minLr: s.minLr,
        batchSize: s.batchSize,
        seqLen: s.seqLen,
        gradAccum,
      },
      data: src.info(),
    };
  } catch (err) {
    set.dispose();
    throw err;
  } finally {
    await data?.close();
    opt.dispose();
  }
}

/** Updates last-fired token counters from sparse codes; returns the mean l0 of the batch. */
function recordFiring(
  lastFired: Float64Array,
  idx: ArrayLike<number>,
  val: ArrayLike<number>,
  k: number,
  tokensBefore: number,
): number {
  let active = 0;
  for (let j = 0; j < val.length; j++) {
    if (val[j] <= 0) continue;
    active++;
    lastFired[idx[j]] = tokensBefore + Math.floor(j / k) + 1;
  }
  return active / (val.length / k);
}
