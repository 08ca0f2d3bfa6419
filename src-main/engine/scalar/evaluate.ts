/**
 * SCALAR for one pair (SPEC §4): integrated-gradient edge scores on the attribution set → ranking →
 * progressive ablation over the edge grid on the evaluation set → per-token KL → mean-KL curve with bootstrap
 * CIs → absolute / relative / log₂ scores. Both cores are used (PairPool); results do not depend on it.
 */
import * as tf from '@tensorflow/tfjs';
import type { ScalarEvalConfig } from '../../../src-shared/scalar.ts';
import type { Gpt } from '../lm/gpt.ts';
import { CancelledError } from '../lm/train.ts';
import { ProgressMeter, type Progress } from '../progress.ts';
import type { SaePair } from '../sae/positions.ts';
import type { SaeSet } from '../sae/saeSet.ts';
import type { Batch } from '../text/index.ts';
import { SubcircuitEvaluator } from './ablation.ts';
import { ablationOnDevice, DeviceSubcircuitEvaluator } from './ablationDevice.ts';
import { finishAttribution } from './attribution.ts';
import { bootstrapMean, gridFor, scoresWithCi, type MeanWithCi } from './curve.ts';
import { PairModel, perTokenKl } from './pair.ts';
import { PairPool } from './pairPool.ts';
import type { PairTask } from './pairTasks.ts';
import { randomRanking, rankByScore } from './ranking.ts';

/** Sequences per attribution task (one task runs on one core). */
const ATTRIBUTION_BATCH = 16;

export interface PairResult {
  pair: number;
  up: string;
  down: string;
  f0: number;
  f1: number;
  grid: number[];
  curve: MeanWithCi[];
  /** Per-token KL at every budget, [grid.length] × [tokens]. */
  perTokenKl: Float32Array[];
  scores: ReturnType<typeof scoresWithCi>;
  /** Mean KL(full model ‖ full circuit): the error the SAEs add with every edge kept. */
  fullCircuitKl: number;
  /** Edge scores A [F₀·F₁] (edge e = i·F₁ + j); null for a random ranking. */
  edgeScores: Float32Array | null;
  ranking: Int32Array;
  seconds: { attribution: number; ablation: number };
}

export interface ScalarProgress extends Progress {
  phase: 'attribution' | 'ablation';
  pair: number;
}

function tokensOf(batches: Batch[]): { data: Int32Array; B: number; T: number } {
  const T = batches[0].contextLength;
  const B = batches.reduce((a, b) => a + b.batchSize, 0);
  const data = new Int32Array(B * T);
  let at = 0;
  for (const b of batches) {
    data.set(b.inputs, at);
    at += b.inputs.length;
  }
  return { data, B, T };
}

export async function evaluatePair(opts: {
  lm: Gpt;
  set: SaeSet;
  pair: SaePair;
  config: ScalarEvalConfig;
  attribution: Batch[];
  evaluation: Batch[];
  onProgress?: (p: ScalarProgress) => void;
  signal?: AbortSignal;
}): Promise<PairResult> {
  const { lm, set, pair, config } = opts;
  const up = set.view(pair.up);
  const down = set.view(pair.down);
  const upW = set.weights(up);
  const downW = set.weights(down);
  const pm = new PairModel(lm, pair, { w: upW, k: up.k }, { w: downW, k: down.k });
  const pool = await PairPool.start(pm);
  const check = () => {
    if (opts.signal?.aborted) throw new CancelledError(`cancelled during pair ${pair.index}`);
  };
  try {
    // 1. Edge scores and ranking.
    const t0 = performance.now();
    let edgeScores: Float32Array | null = null;
    let ranking: Int32Array;
    if (config.ranking === 'ig') {
      const all = tokensOf(opts.attribution);
      const tasks: PairTask[] = [];
      for (let b = 0; b < all.B; b += ATTRIBUTION_BATCH) {
        const B = Math.min(ATTRIBUTION_BATCH, all.B - b);
        tasks.push({
          op: 'attribution',
          tokens: all.data.subarray(b * all.T, (b + B) * all.T),
          B,
          T: all.T,
          options: {
            steps: config.steps,
            scaling: config.scaling,
            singleStepAlpha: config.singleStepAlpha as 0 | 1,
          },
        });
      }
      const meter = new ProgressMeter(tasks.length);
      const summed = new Float64Array(config.scaling === 'textbook' ? pm.f0 * pm.f1 : pm.f1 * pm.D * pm.D);
      // Two tasks at a time (one per core), so progress and cancellation stay responsive.
      for (let i = 0; i < tasks.length; i += pool.threads) {
        check();
        for (const part of await pool.map(tasks.slice(i, i + pool.threads)))
          for (let e = 0; e < part.length; e++) summed[e] += part[e];
        const done = Math.min(tasks.length, i + pool.threads);
        const progress = meter.tick(done, (done - i) * ATTRIBUTION_BATCH * all.T);
        opts.onProgress?.({ ...progress, phase: 'attribution', pair: pair.index });
      }
      edgeScores = await finishAttribution(pm, summed, config.scaling);
      ranking = rankByScore(edgeScores, config.seed);
    } else {
      ranking = randomRanking(pm.f0 * pm.f1, config.seed);
    }
    const attributionSeconds = (performance.now() - t0) / 1000;

    // 2. Progressive ablation on the evaluation set.
    const t1 = performance.now();
    const ev = tokensOf(opts.evaluation);
    const tokens = tf.tensor2d(ev.data, [ev.B, ev.T], 'int32');
    const clean = pm.clean(tokens);
    const fullCircuit = await pm.fullCircuitLogits(clean);
    const fullCircuitKl = await perTokenKl(clean.logits, fullCircuit);
    const target = config.target === 'model' ? clean.logits : fullCircuit;
    const grid = gridFor(config.grid, pm.f0, pm.f1);
    // On webgpu the pass keeps its activations on the device; only the per-token KL is read, once a budget.
    const evaluator = ablationOnDevice()
      ? await DeviceSubcircuitEvaluator.create(pm, clean)
      : await SubcircuitEvaluator.create(pm, clean, pool);
    const meter = new ProgressMeter(grid.length);
    const kls: Float32Array[] = [];
    for (const [g, n] of grid.entries()) {
      check();
      const logits = await evaluator.logits(ranking, n, { relu: config.relu });
      kls.push(await perTokenKl(target, logits));
      logits.dispose();
      const progress = meter.tick(g + 1, evaluator.lastUnits);
      opts.onProgress?.({ ...progress, phase: 'ablation', pair: pair.index });
    }
    if (evaluator instanceof DeviceSubcircuitEvaluator) evaluator.dispose();
    tf.dispose([tokens, clean.up, clean.logits, fullCircuit, ...Object.values(clean.context)]);
    return {
      pair: pair.index,
      up: pair.up,
      down: pair.down,
      f0: pm.f0,
      f1: pm.f1,
      grid,
      curve: kls.map((k, g) => bootstrapMean(k, config.bootstrap, config.seed + g)),
      perTokenKl: kls,
      scores: scoresWithCi(grid, kls, pm.f0, pm.f1, config.bootstrap, config.seed),
      fullCircuitKl: fullCircuitKl.reduce((a, b) => a + b, 0) / fullCircuitKl.length,
      edgeScores,
      ranking,
      seconds: { attribution: attributionSeconds, ablation: (performance.now() - t1) / 1000 },
    };
  } finally {
    await pool.close();
    pm.dispose();
    // A staircase view's weights are slices of its dictionary: fresh tensors, released here.
    tf.dispose([upW.wEnc, upW.wDec, downW.wEnc, downW.wDec].filter((t) => !(t instanceof tf.Variable)));
  }
}

/** The top `count` edges of a ranking with their scores: (rank, i, j, score). */
export function topEdges(ranking: Int32Array, scores: Float32Array | null, f1: number, count: number) {
  const n = Math.min(count, ranking.length);
  const out = { i: new Int32Array(n), j: new Int32Array(n), score: new Float32Array(n) };
  for (let r = 0; r < n; r++) {
    const e = ranking[r];
    out.j[r] = e % f1;
    out.i[r] = (e - out.j[r]) / f1;
    out.score[r] = scores ? scores[e] : 0;
  }
  return out;
}
