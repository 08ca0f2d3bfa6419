/**
 * Step 1 of a SCALAR pair: edge scores on the attribution set and the first K ranks of the ranking, inside
 * the memory bound. Two ways to the same scores:
 *
 *   dense   today's pass (attribution.ts, both cores): per batch M [F₁, D, D] (reference) or A² [F₀, F₁]
 *           (textbook) summed in float64, finished, F₀·F₁ scores — chosen when those arrays fit comfortably in
 *           the bound and the pair is small (F₀·F₁ ≤ 2²²);
 *   sparse  pass 0 + column blocks over the active edge set (activeSets.ts, attributionSparse.ts) — nothing of
 *           size F₀·F₁ (or F₁·D²) exists; the form for GPT-2 widths.
 *
 * Either way the scores stream through a TopEdgeSelector (sparseRanking.ts), so the ranking is rankByScore's
 * prefix; the full score matrix is kept for the run's artifact only when F₀·F₁ ≤ 2²⁴ and it fits.
 */
import type { ScalarEvalConfig } from '../../../src-shared/scalar.ts';
import { batchBytesPerToken, findActiveSets, releaseActiveSets } from './activeSets.ts';
import { finishAttribution } from './attribution.ts';
import { planSparseAttribution, sparseAttribution, type AttributionForm } from './attributionSparse.ts';
import type { MemoryBudget } from './memory.ts';
import type { PairModel } from './pair.ts';
import type { PairPool } from './pairPool.ts';
import type { PairTask } from './pairTasks.ts';
import type { AttributionOptions } from './plain.ts';
import {
  randomRankedEdges,
  rankedFromSelection,
  TopEdgeSelector,
  type RankedEdges,
} from './sparseRanking.ts';

/** Sequences per attribution batch (one task on one core in the dense pass); fewer when the bound says so. */
export const ATTRIBUTION_BATCH = 16;
/** Dense pass only up to this many edges; the full score matrix kept only up to DENSE_STORE. */
const DENSE_EDGES = 2 ** 22;
const DENSE_STORE = 2 ** 24;

export type AttributionPath = 'dense' | 'sparse';

export interface RankingReport {
  path: AttributionPath | 'random';
  form: AttributionForm | null;
  /** Column blocks (walks over the attribution batches) of the sparse pass. */
  blocks: number;
  seqsPerBatch: number;
  /** |A₀|, |C₁| (sparse pass; null for the dense one). */
  activeUp: number | null;
  activeDown: number | null;
  positiveEdges: number;
  seconds: { activeSets: number; scores: number; ranking: number };
}

export interface RankingResult {
  ranked: RankedEdges;
  /** Scores of every edge [F₀·F₁] (edge e = i·F₁ + j) when kept (small pairs), else null. */
  edgeScores: Float32Array | null;
  report: RankingReport;
}

export async function rankPair(opts: {
  pm: PairModel;
  pool: PairPool;
  config: ScalarEvalConfig;
  tokens: { data: Int32Array; B: number; T: number };
  K: number;
  budget: MemoryBudget;
  /** Engine option (tests): force a path / form instead of choosing by the bound. */
  force?: { path?: AttributionPath; form?: 'quadratic' | 'low-rank' };
  check: () => void;
  progress: (step: number, total: number, units: number) => void;
}): Promise<RankingResult> {
  const { pm, pool, config, tokens, K, budget } = opts;
  const total = pm.f0 * pm.f1;
  const t0 = performance.now();
  const seconds = { activeSets: 0, scores: 0, ranking: 0 };
  if (config.ranking === 'random') {
    const ranked = randomRankedEdges(total, K, config.seed, budget);
    seconds.ranking = (performance.now() - t0) / 1000;
    const report = { path: 'random' as const, form: null, blocks: 0, seqsPerBatch: 0, activeUp: null };
    return {
      ranked,
      edgeScores: null,
      report: { ...report, activeDown: null, positiveEdges: total, seconds },
    };
  }
  const attribution: AttributionOptions = {
    steps: config.steps,
    scaling: config.scaling,
    singleStepAlpha: config.singleStepAlpha as 0 | 1,
  };
  const { D, f0, f1 } = pm;
  const S = config.steps;
  const T = tokens.T;
  // Attribution batches: 16 sequences as the dense pass, fewer when a batch's temporaries (on each core) would
  // not fit what is left, at least one. Seeds per token: k, or for a ReLU / JumpReLU SAE₁ (k = F) up to 64.
  const perToken = batchBytesPerToken(pm, S, Math.min(pm.down.k, 64));
  const seqsPerBatch = Math.min(
    ATTRIBUTION_BATCH,
    tokens.B,
    budget.largestCount('attribution sequence', perToken * T * pool.threads, ATTRIBUTION_BATCH),
  );
  const denseBytes =
    8 * (config.scaling === 'textbook' ? total : f1 * D * D) * (1 + pool.threads / 2) + 4 * total;
  const path: AttributionPath =
    opts.force?.path ?? (total <= DENSE_EDGES && denseBytes <= budget.available() / 3 ? 'dense' : 'sparse');
  const keepDense = total <= DENSE_STORE && 4 * total <= budget.available() / 4;
  if (keepDense) budget.reserve('score matrix', 4 * total);
  const edgeScores = keepDense ? new Float32Array(total) : null;
  const selector = new TopEdgeSelector(K, budget);
  const report: RankingReport = {
    path,
    form: null,
    blocks: 0,
    seqsPerBatch,
    activeUp: null,
    activeDown: null,
    positiveEdges: 0,
    seconds,
  };
  const batchReserve = 'attribution batches';
  budget.reserve(batchReserve, perToken * T * seqsPerBatch * pool.threads);
  try {
    if (path === 'dense') {
      const scores = await densePass(pm, pool, tokens, attribution, seqsPerBatch, budget, opts);
      for (let e = 0; e < total; e++) selector.add(e, scores[e]);
      edgeScores?.set(scores);
      report.form = config.scaling === 'textbook' ? 'textbook' : 'quadratic';
    } else {
      const t1 = performance.now();
      // Progress: pass 0 is the first half, pass 1 (every block's walk over the batches) the second.
      const nb = Math.ceil(tokens.B / seqsPerBatch);
      let calls = 0;
      const tick0 = () => {
        opts.check();
        if (calls > 0) opts.progress(calls, 2 * nb, seqsPerBatch * T);
        calls++;
      };
      const act = await findActiveSets(pm, tokens.data, T, seqsPerBatch, attribution, budget, tick0);
      opts.progress(nb, 2 * nb, 0);
      seconds.activeSets = (performance.now() - t1) / 1000;
      const plan = planSparseAttribution(
        pm,
        act,
        { ...attribution, form: opts.force?.form },
        seqsPerBatch * T,
        budget,
      );
      Object.assign(report, {
        form: plan.form,
        blocks: plan.blocks.length,
        activeUp: act.up.length,
        activeDown: act.down.length,
      });
      calls = 0;
      const tick1 = () => {
        opts.check();
        opts.progress(nb + Math.floor(calls++ / plan.blocks.length), 2 * nb, 0);
      };
      await sparseAttribution(
        pm,
        act,
        plan,
        attribution,
        (rows, cols, scores) => {
          const R = rows ?? { length: f0 };
          for (let r = 0; r < R.length; r++) {
            const i = rows ? rows[r] : r;
            for (let c = 0; c < cols.length; c++) {
              const s = scores[r * cols.length + c];
              selector.add(i * f1 + cols[c], s);
              if (edgeScores) edgeScores[i * f1 + cols[c]] = s;
            }
          }
        },
        budget,
        pool,
        tick1,
      );
      opts.progress(2 * nb, 2 * nb, 0);
      releaseActiveSets(act, budget);
    }
  } finally {
    budget.release(batchReserve);
  }
  seconds.scores = (performance.now() - t0) / 1000 - seconds.activeSets;
  const t2 = performance.now();
  report.positiveEdges = selector.positive;
  const ranked = rankedFromSelection(selector.finish(), selector.positive, total, K, config.seed, budget);
  seconds.ranking = (performance.now() - t2) / 1000;
  if (keepDense) budget.release('score matrix');
  return { ranked, edgeScores, report };
}

/** Today's dense pass on both cores (attribution.ts), summed in float64 and finished: scores [F₀·F₁]. */
async function densePass(
  pm: PairModel,
  pool: PairPool,
  tokens: { data: Int32Array; B: number; T: number },
  options: AttributionOptions,
  seqsPerBatch: number,
  budget: MemoryBudget,
  opts: { check: () => void; progress: (step: number, total: number, units: number) => void },
): Promise<Float32Array> {
  const { D, f0, f1 } = pm;
  const tasks: PairTask[] = [];
  for (let b = 0; b < tokens.B; b += seqsPerBatch) {
    const B = Math.min(seqsPerBatch, tokens.B - b);
    const data = tokens.data.subarray(b * tokens.T, (b + B) * tokens.T);
    tasks.push({ op: 'attribution', tokens: data, B, T: tokens.T, options });
  }
  const size = options.scaling === 'textbook' ? f0 * f1 : f1 * D * D;
  // The float64 sums, each thread's float32 part, and the finished scores [F₀·F₁].
  budget.reserve('dense attribution sums', size * (8 + 4 * pool.threads) + 4 * f0 * f1);
  try {
    const summed = new Float64Array(size);
    for (let i = 0; i < tasks.length; i += pool.threads) {
      opts.check();
      for (const part of await pool.map(tasks.slice(i, i + pool.threads)))
        for (let e = 0; e < part.length; e++) summed[e] += part[e];
      const done = Math.min(tasks.length, i + pool.threads);
      opts.progress(done, tasks.length, (done - i) * seqsPerBatch * tokens.T);
    }
    return await finishAttribution(pm, summed, options.scaling);
  } finally {
    budget.release('dense attribution sums');
  }
}
