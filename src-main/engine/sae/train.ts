/**
 * Concurrent SAE training (SPEC §3.4): the LM is frozen; each step runs it once, every SAE of the run encodes
 * the clean activation at its hook, the losses are summed (plus the JSAE Jacobian penalty), and one AdamW step
 * with a global gradient clip updates all SAEs. Evaluation every `evalEvery` steps keeps the best checkpoint
 * of each parameter group; the resumable state is written at every evaluation. Evaluation uses the `fixed-v1`
 * token set (src-shared/evalProtocol.ts; independent of the batch size) or, for a run made before it, the legacy
 * batches.
 */
import * as tf from '@tensorflow/tfjs';
import type { SaeTrainConfig } from '../../../src-shared/sae.ts';
import { readScalars, tidy } from '../backend.ts';
import { loadTrainingState, restoreTrainingState, saveTrainingState } from '../io/trainingState.ts';
import type { Gpt } from '../lm/gpt.ts';
import { CancelledError, TrainingDivergedError } from '../lm/train.ts';
import { AdamW, cosineLr } from '../optim.ts';
import { ProgressMeter, type Progress } from '../progress.ts';
import { asciiTokenizer, batchForStep, loadCorpus, prepareSplits, type Tokenizer } from '../text/index.ts';
import { jacobianPenaltyStep } from './jacobian.ts';
import { loadGroup, saveGroup } from './checkpoint.ts';
import { saeEvalSet, type SaeEvalSet } from './evalSet.ts';
import { evaluateSaeSet, type SetEval } from './metrics.ts';
import { SaeSet, type SaeView } from './saeSet.ts';
import { activationSource, pipelineByDefault } from './activationStream.ts';
import { topkSaeStep, type SparseCodes } from './topk.ts';

export interface SaeTrainOptions {
  config: SaeTrainConfig;
  lm: Gpt;
  /** The LM's tokenizer (default: the character tokenizer of the toy models). */
  tokenizer?: Tokenizer;
  outDir: string;
  /** Compute the LM activations one step ahead on a second thread (default: when cores and backend allow). */
  pipeline?: boolean;
  onProgress?: (p: Progress & { loss: number; l0: number; lr: number }) => void;
  /** Training-loss points (per SAE scope and total) every few steps. */
  onTrainMetrics?: (step: number, scope: string, values: Record<string, number>) => void;
  onEval?: (
    step: number,
    evaluation: SetEval,
    extra: { jacobian_l1?: number; frac_alive: Record<string, number> },
  ) => void;
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
  };
}

/** Pads a slice's gradient to its dictionary's full size (rows [w, D] → [N, D], or columns [D, w] → [D, N]). */
function padToDict(g: tf.Tensor2D, size: number, axis: 0 | 1): tf.Tensor2D {
  const missing = size - g.shape[axis];
  if (missing === 0) return g;
  return tf.pad(
    g,
    axis === 0
      ? [
          [0, missing],
          [0, 0],
        ]
      : [
          [0, 0],
          [0, missing],
        ],
  );
}

export interface SaeStepContext {
  lm: Gpt;
  set: SaeSet;
  opt: AdamW;
  config: Pick<SaeTrainConfig, 'arch' | 'lambda' | 'lambdaNorm'> & { schedule: { gradClip: number } };
}

export interface SaeStepStats {
  total: number;
  /** Pre-clip global gradient norm (NaN when the step was not applied). */
  gradNorm: number;
  losses: Record<string, number>;
  penalty: number;
  jacobianL1: number;
  l0: number;
}

/**
 * One training step of every SAE in the set on the clean activations of one batch: each SAE's loss and sparse
 * gradients, the JSAE penalty, summed gradients per parameter, one AdamW update with a global clip. `onCodes` sees every
 * SAE's codes (dead-latent tracking); it returns that SAE's l0. The step's figures are read in one go after the
 * GPU work is queued (the webgpu backend has no synchronous reads).
 */
export async function saeTrainStep(
  ctx: SaeStepContext,
  acts: Record<string, tf.Tensor2D>,
  lr: number,
  onCodes: (hook: string, idx: ArrayLike<number>, val: ArrayLike<number>, k: number) => number,
): Promise<SaeStepStats> {
  const { lm, set, opt, config } = ctx;
  const paramOf = new Map<tf.Variable, string>(Object.entries(opt.params).map(([n, v]) => [v, n]));
  const step = tidy(() => {
    const grads = new Map<string, tf.Tensor>();
    const losses: tf.Scalar[] = [];
    const codes: Record<string, SparseCodes> = {};
    for (const v of set.views) {
      const r = topkSaeStep(acts[v.hook], set.weights(v), v.k, v.detachBelow);
      const N = dictSize(v);
      const add = (p: tf.Variable, g: tf.Tensor) => {
        const name = paramOf.get(p)!;
        grads.set(name, grads.has(name) ? tf.add(grads.get(name)!, g) : g);
      };
      add(v.dict.wEnc, padToDict(r.grads.wEnc, N, 1));
      add(v.dict.wDec, padToDict(r.grads.wDec, N, 0));
      add(v.bEnc, r.grads.bEnc);
      add(v.bDec, r.grads.bDec);
      losses.push(r.loss);
      codes[v.hook] = r.codes;
    }
    return { grads, losses, codes };
  });
  // The JSAE penalty per pair (its kernel may run on the CPU: async), added to the summed gradients.
  const jacobian: { sumAbs: tf.Scalar; penaltyPerSum: number; tokens: number }[] = [];
  try {
    if (config.arch === 'jsae') {
      for (const pair of set.pairs) {
        const p = await jacobianPenaltyStep(lm, set, pair, acts, step.codes, {
          lambda: config.lambda,
          norm: config.lambdaNorm,
        });
        jacobian.push(p);
        for (const [v, g] of p.grads) {
          const name = paramOf.get(v)!;
          const before = step.grads.get(name);
          step.grads.set(name, before ? tf.add(before, g) : g);
          if (before) tf.dispose([before, g]);
        }
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
    const total = Object.values(losses).reduce((a, b) => a + b, 0) + penalty;
    const grads = Object.fromEntries(step.grads);
    const gradNorm = Number.isFinite(total) ? await opt.apply(grads, lr, config.schedule.gradClip) : NaN;
    return { total, losses, penalty, jacobianL1, gradNorm, l0: l0 / set.views.length };
  } finally {
    tf.dispose([
      ...step.grads.values(),
      ...Object.values(step.codes).flatMap((c) => [c.idx, c.val]),
      ...jacobian.map((j) => j.sumAbs),
      ...step.losses,
    ]);
  }
}

export async function trainSaes(opts: SaeTrainOptions): Promise<SaeTrainResult> {
  const { config, lm, outDir } = opts;
  const s = { ...config.schedule, seqLen: config.schedule.seqLen ?? lm.config.contextLength };
  if (s.seqLen > lm.config.contextLength)
    throw new Error(`seqLen ${s.seqLen} exceeds the LM context ${lm.config.contextLength}`);
  const corpus = loadCorpus(config.corpus);
  const tokenizer = opts.tokenizer ?? asciiTokenizer;
  const splits = prepareSplits(tokenizer.encode(corpus.text), s.seqLen, {
    trainFraction: config.trainFraction,
    corpusName: corpus.name,
  });
  const evalSet = saeEvalSet(
    { evaluation: config.evaluation, evalBatches: s.evalBatches },
    splits.val,
    s.batchSize,
    s.seqLen,
    config,
  );

  const set = new SaeSet({
    arch: config.arch,
    setup: config.setup,
    width: config.width,
    k: config.k,
    dModel: lm.config.dModel,
    nLayer: lm.config.nLayer,
    seed: config.seed,
  });
  const hooks = [...new Set(set.views.map((v) => v.hook))];
  const params = set.params();
  const opt = new AdamW(params, { beta1: s.beta1, beta2: s.beta2, eps: s.eps, weightDecay: () => 0 });
  const tokensPerStep = s.batchSize * s.seqLen;

  // Token count at which each latent last fired, for frac_alive (a latent is dead after deadWindowTokens).
  const lastFired = new Map<string, Float64Array>(
    set.views.map((v) => [v.hook, new Float64Array(v.width).fill(-1)]),
  );
  let step = 0;
  let best: Record<string, { loss: number; step: number }> = {};
  const resumed = loadTrainingState(outDir);
  if (resumed) {
    restoreTrainingState(resumed, params, opt, 'SAE configuration');
    step = resumed.state.step;
    best = resumed.state.extra.best as typeof best;
    const fired = resumed.state.extra.lastFired as Record<string, number[]>;
    for (const [hook, arr] of Object.entries(fired)) lastFired.get(hook)?.set(arr);
  }
  const resumedFrom = step;
  const meter = new ProgressMeter(s.steps, step);
  const logEvery = Math.max(1, Math.round(s.evalEvery / 10));
  const running = new Map<string, number>();
  let lastJacobianL1 = 0;

  const saveState = () =>
    saveTrainingState(outDir, params, opt.stateTensors(), {
      step,
      extra: { best, lastFired: Object.fromEntries([...lastFired].map(([h, a]) => [h, Array.from(a)])) },
    });

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

  const batchAt = (t: number) => batchForStep(splits.train, config.seed, t, s.batchSize, s.seqLen);
  const source = await activationSource(lm, hooks, batchAt, s.steps, opts.pipeline ?? pipelineByDefault());

  try {
    while (step < s.steps) {
      if (opts.signal?.aborted) {
        await saveState();
        throw new CancelledError(`cancelled at step ${step}`);
      }
      step += 1;
      const lr = cosineLr(step, s.lr, s.minLr, s.warmupSteps, s.steps);
      const tokensBefore = (step - 1) * tokensPerStep;
      const acts = await source.activations(step);
      const stepStats = await saeTrainStep({ lm, set, opt, config }, acts, lr, (hook, idx, val, k) =>
        recordFiring(lastFired.get(hook)!, idx, val, k, tokensBefore),
      );
      tf.dispose(Object.values(acts));
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
        const evaluation = await evaluateSaeSet(lm, set, evalSet.batches);
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
      }
    }

    // Report and export the best checkpoint of every group.
    for (const g of set.groups) loadGroup(outDir, set, g);
    const evaluation = await evaluateSaeSet(lm, set, evalSet.batches);
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
      protocol: evalSet.info,
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
  } catch (err) {
    set.dispose();
    throw err;
  } finally {
    await source.close();
    opt.dispose();
  }
}

function dictSize(v: SaeView): number {
  return v.dict.wDec.shape[0];
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
