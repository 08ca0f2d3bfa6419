/**
 * SCALAR for one pair (SPEC §4): integrated-gradient edge scores on the attribution set → the first K ranks of
 * the ranking (K = the grid's largest budget, or the stored edge count) → progressive ablation over the edge grid
 * on the evaluation set → per-token KL → mean-KL curve with bootstrap CIs → absolute / relative / log₂ scores.
 *
 * Memory is bounded by config.maxMemoryMb (memory.ts): nothing of size F₀·F₁ exists unless it fits (rankPair.ts
 * chooses the dense or the sparse attribution, ablatePair.ts sizes its chunks), and the run records the bound,
 * the accounted peak and the measured peaks (RSS, heap, tensors, wasm heap). Both cores are used where the
 * work splits into independent tasks (PairPool); results do not depend on it.
 */
import * as tf from '@tensorflow/tfjs';
import type { ScalarEvalConfig } from '../../../src-shared/scalar.ts';
import type { Gpt } from '../lm/gpt.ts';
import { CancelledError } from '../lm/train.ts';
import { ProgressMeter, type Progress } from '../progress.ts';
import type { SaePair } from '../sae/positions.ts';
import type { SaeSet } from '../sae/saeSet.ts';
import type { Batch } from '../text/index.ts';
import { ablatePair, type AblationReport } from './ablatePair.ts';
import { bootstrapMean, gridFor, scoresWithCi, type MeanWithCi } from './curve.ts';
import { defaultMemoryBoundMb, mb, MemoryBudget, MemorySampler, type MemoryPeaks } from './memory.ts';
import { PairModel } from './pair.ts';
import { PairPool } from './pairPool.ts';
import { rankPair, type AttributionPath, type RankingReport } from './rankPair.ts';
import { checkEdgeCount, type RankedEdges } from './sparseRanking.ts';

export interface PairMemory {
  /** The bound this pair ran under, MB (config.maxMemoryMb, or the machine default). */
  bound_mb: number;
  /** Peak of the declared buffers (model and SAE weights included), MB: the figure the bound limits. */
  accounted_peak_mb: number;
  /** The largest declared buffers, MB. */
  largest: Record<string, number>;
  /** Measured over the pair (every thread of the process for RSS). */
  measured: MemoryPeaks;
}

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
  /** Scores of every edge [F₀·F₁] (edge e = i·F₁ + j) for small pairs with an IG ranking; else null. */
  edgeScores: Float32Array | null;
  /** The first K ranks (edge indices), K = max(largest budget, keepEdges) ≤ F₀·F₁. */
  ranking: Int32Array;
  /** Scores of those edges by rank (null for a random ranking). */
  rankingScores: Float32Array | null;
  /** Edges scoring > 0 (for a random ranking, every edge). */
  positiveEdges: number;
  /** Wall seconds per phase, and the process's CPU seconds (all threads) for the two steps. */
  seconds: {
    attribution: number;
    ablation: number;
    activeSets: number;
    scores: number;
    ranking: number;
    cpuAttribution: number;
    cpuAblation: number;
  };
  attribution: Omit<RankingReport, 'seconds'>;
  ablation: AblationReport;
  memory: PairMemory;
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

/** Bytes of the LM and the pair's SAEs on one thread, and of what a segment pass builds once per pair. */
function residentBytes(pm: PairModel): number {
  const weights = Object.values(pm.lm.params).reduce((a, v) => a + 4 * v.size, 0);
  const sae = [pm.up.w, pm.down.w].reduce(
    (a, w) => a + 4 * (w.wEnc.size + w.wDec.size + w.bEnc.size + w.bDec.size + (w.threshold?.size ?? 0)),
    0,
  );
  // PairModel's latent tables W_dec₀·(LN γ)·W_fc [F₀, M] (fflayer, LayerNorm ffblock).
  const tables = pm.pair.segment === 'block' ? 0 : 4 * pm.f0 * pm.lm.config.dMlp;
  return weights + sae + tables;
}

export interface EvaluateOptions {
  config: ScalarEvalConfig;
  attribution: Batch[];
  evaluation: Batch[];
  onProgress?: (p: ScalarProgress) => void;
  signal?: AbortSignal;
  /** Engine option (tests, benchmarks): the attribution path / form instead of the bound's choice. */
  force?: { path?: AttributionPath; form?: 'quadratic' | 'low-rank' };
  /** Benchmarks only: stop evaluating budgets after this many seconds of ablation (ablatePair.ts). */
  ablationTimeLimitSeconds?: number;
}

/** SCALAR on pair `pair` of an SAE run's set. */
export async function evaluatePair(
  opts: EvaluateOptions & { lm: Gpt; set: SaeSet; pair: SaePair },
): Promise<PairResult> {
  const { lm, set, pair } = opts;
  const up = set.view(pair.up);
  const down = set.view(pair.down);
  const upW = set.weights(up);
  const downW = set.weights(down);
  try {
    return await evaluatePairModel(
      new PairModel(lm, pair, { w: upW, k: up.k }, { w: downW, k: down.k }),
      opts,
    );
  } finally {
    // A staircase view's weights are slices of its dictionary: fresh tensors, released here.
    tf.dispose([upW.wEnc, upW.wDec, downW.wEnc, downW.wDec].filter((t) => !(t instanceof tf.Variable)));
  }
}

/** SCALAR on a pair given as its model (the LM and the two SAEs' weights); releases the pair's tables. */
export async function evaluatePairModel(pm: PairModel, opts: EvaluateOptions): Promise<PairResult> {
  const { config } = opts;
  const pair = pm.pair;
  const total = checkEdgeCount(pm.f0, pm.f1);
  const boundMb = config.maxMemoryMb ?? defaultMemoryBoundMb();
  const budget = MemoryBudget.mb(boundMb);
  const sampler = new MemorySampler();
  const pool = await PairPool.start(pm);
  const check = () => {
    if (opts.signal?.aborted) throw new CancelledError(`cancelled during pair ${pair.index}`);
  };
  try {
    // Every thread holds the LM and the pair's SAEs (the worker its own copy).
    budget.reserve(
      `model and SAE weights (${pool.threads} thread${pool.threads > 1 ? 's' : ''})`,
      residentBytes(pm) * pool.threads,
    );
    const grid = gridFor(config.grid, pm.f0, pm.f1);
    const K = Math.min(total, Math.max(grid[grid.length - 1], config.keepEdges));

    // 1. Edge scores and the ranked prefix.
    const t0 = performance.now();
    const cpu = (since: NodeJS.CpuUsage) => {
      const u = process.cpuUsage(since);
      return (u.user + u.system) / 1e6;
    };
    const cpu0 = process.cpuUsage();
    const progress = (phase: ScalarProgress['phase']) => {
      let meter: ProgressMeter | null = null;
      return (step: number, steps: number, units: number) => {
        meter ??= new ProgressMeter(steps);
        opts.onProgress?.({ ...meter.tick(step, units), phase, pair: pair.index });
      };
    };
    const rank = await rankPair({
      pm,
      pool,
      config,
      tokens: tokensOf(opts.attribution),
      K,
      budget,
      force: opts.force,
      check,
      progress: progress('attribution'),
    });
    const ranked: RankedEdges = rank.ranked;
    const attributionSeconds = (performance.now() - t0) / 1000;
    const cpuAttribution = cpu(cpu0);
    const cpu1 = process.cpuUsage();
    sampler.sample('attribution');

    // 2. Progressive ablation on the evaluation set, in chunks of sequences.
    const t1 = performance.now();
    const ab = await ablatePair({
      pm,
      pool,
      config,
      tokens: tokensOf(opts.evaluation),
      grid,
      ranked,
      budget,
      check,
      progress: progress('ablation'),
      timeLimitSeconds: opts.ablationTimeLimitSeconds,
    });
    sampler.sample('ablation');
    const { seconds: rs, ...attribution } = rank.report;
    return {
      pair: pair.index,
      up: pair.up,
      down: pair.down,
      f0: pm.f0,
      f1: pm.f1,
      grid,
      curve: ab.kls.map((k, g) => bootstrapMean(k, config.bootstrap, config.seed + g)),
      perTokenKl: ab.kls,
      scores: scoresWithCi(grid, ab.kls, pm.f0, pm.f1, config.bootstrap, config.seed),
      fullCircuitKl: ab.fullCircuitKl.reduce((a, b) => a + b, 0) / ab.fullCircuitKl.length,
      edgeScores: rank.edgeScores,
      ranking: ranked.ranking,
      rankingScores: ranked.scores,
      positiveEdges: ranked.positive,
      seconds: {
        attribution: attributionSeconds,
        ablation: (performance.now() - t1) / 1000,
        ...rs,
        cpuAttribution,
        cpuAblation: cpu(cpu1),
      },
      attribution,
      ablation: ab.report,
      memory: {
        bound_mb: boundMb,
        accounted_peak_mb: mb(budget.peak),
        largest: budget.breakdown(),
        measured: sampler.stop(),
      },
    };
  } finally {
    sampler.stop();
    await pool.close();
    pm.dispose();
  }
}

/** The top `count` ranked edges with their scores (by rank): (rank, i, j, score). */
export function topRankedEdges(ranking: Int32Array, scores: Float32Array | null, f1: number, count: number) {
  const n = Math.min(count, ranking.length);
  const out = { i: new Int32Array(n), j: new Int32Array(n), score: new Float32Array(n) };
  for (let r = 0; r < n; r++) {
    const e = ranking[r];
    out.j[r] = e % f1;
    out.i[r] = (e - out.j[r]) / f1;
    out.score[r] = scores ? scores[r] : 0;
  }
  return out;
}

/** The same from a dense score matrix indexed by edge (i·F₁ + j) rather than by rank. */
export function topEdges(ranking: Int32Array, scores: Float32Array | null, f1: number, count: number) {
  const top = ranking.subarray(0, Math.min(count, ranking.length));
  return topRankedEdges(ranking, scores && Float32Array.from(top, (e) => scores[e]), f1, count);
}
