/**
 * `validate-ranking` (issue 15): for every condition × segment kind × seed, build a planted circuit and run the
 * real SCALAR engine on it — attribution tasks through the PairPool (attributionBatchFast), finishAttribution,
 * rankByScore / randomRanking, the SubcircuitEvaluator over the `full` edge grid, perTokenKl and the curve's
 * areas — for each ranking method and for the true edge order; then score how each ranking recovers the
 * planted edges (metrics.ts). The KL target is the full circuit (the paper's "pure computational sparsity"):
 * the planted SAEs are exact, so the full model would only add a constant. The subcircuit's TopK takes a ReLU
 * (the engine's `relu` option) so that every curve ends at the full circuit (KL 0): without it, keeping every
 * edge selects negative pre-activations the full circuit drops, and curves rise again at large N whatever the
 * ranking, which hides the differences between rankings.
 */
import * as tf from '@tensorflow/tfjs';
import {
  PLANTED_SEGMENTS,
  VALIDATION_PRESETS,
  type PlantedResult,
  type RankingMethod,
  type Recovery,
  type ValidateRankingConfig,
  type ValidationPreset,
  type ValidationReport,
} from '../../../src-shared/validation.ts';
import { backendReport } from '../backend.ts';
import { CancelledError } from '../lm/train.ts';
import { ProgressMeter, type Progress } from '../progress.ts';
import { SubcircuitEvaluator } from '../scalar/ablation.ts';
import { finishAttribution } from '../scalar/attribution.ts';
import { gridFor, scores } from '../scalar/curve.ts';
import { perTokenKl } from '../scalar/pair.ts';
import { PairPool } from '../scalar/pairPool.ts';
import type { PairTask } from '../scalar/pairTasks.ts';
import { randomRanking, rankByScore } from '../scalar/ranking.ts';
import { auroc, precisionAt, rankStrengthSpearman, recallAt } from './metrics.ts';
import { buildPlanted, evalCodes, trueStrengths, type PlantedCircuit, type PlantedSpec } from './planted.ts';
import { summarise, THRESHOLDS } from './report.ts';

/** Sequences per attribution task (one task runs on one core). */
const ATTRIBUTION_BATCH = 8;

export interface ValidationProgress extends Progress {
  phase: string;
}

export interface ValidateOptions {
  config: ValidateRankingConfig;
  onProgress?: (p: ValidationProgress) => void;
  signal?: AbortSignal;
  /** Use a second thread per pair (PairPool's default); tests may turn it off, results do not change. */
  parallel?: boolean;
  /** Replaces the named preset's sweep (small cases in tests). */
  preset?: ValidationPreset;
}

/** Edge scores A [F₀·F₁] of one IG method on the attribution set, summed over batches as evaluatePair does. */
async function igScores(c: PlantedCircuit, pool: PairPool, m: RankingMethod): Promise<Float32Array> {
  const { pm } = c;
  const T = c.spec.seqLen;
  const B = c.attributionTokens.length / T;
  const options = { steps: m.steps!, scaling: m.scaling! };
  const tasks: PairTask[] = [];
  for (let b = 0; b < B; b += ATTRIBUTION_BATCH) {
    const n = Math.min(ATTRIBUTION_BATCH, B - b);
    tasks.push({
      op: 'attribution',
      tokens: c.attributionTokens.subarray(b * T, (b + n) * T),
      B: n,
      T,
      options,
    });
  }
  const summed = new Float64Array(options.scaling === 'textbook' ? pm.f0 * pm.f1 : pm.f1 * pm.D * pm.D);
  for (const part of await pool.map(tasks)) for (let e = 0; e < part.length; e++) summed[e] += part[e];
  return finishAttribution(pm, summed, options.scaling);
}

/** Mean KL(full circuit ‖ subcircuit) at every budget of the grid, for one ranking. */
async function curveOf(
  c: PlantedCircuit,
  pool: PairPool,
  clean: ReturnType<PlantedCircuit['pm']['clean']>,
  target: tf.Tensor3D,
  ranking: Int32Array,
  grid: number[],
): Promise<number[]> {
  const evaluator = await SubcircuitEvaluator.create(c.pm, clean, pool);
  const out: number[] = [];
  for (const n of grid) {
    const logits = await evaluator.logits(ranking, n, { relu: true });
    const kl = await perTokenKl(target, logits);
    logits.dispose();
    out.push(kl.reduce((a, b) => a + b, 0) / kl.length);
  }
  return out;
}

function recoveryOf(
  ranking: Int32Array,
  truth: Uint8Array,
  strength: Float64Array,
  grid: number[],
  curve: number[],
  trueArea: number,
  f0: number,
  f1: number,
): Recovery {
  const nTrue = truth.reduce((a, b) => a + b, 0);
  const area = scores(grid, curve, f0, f1);
  return {
    precision: precisionAt(ranking, truth, nTrue),
    recall: recallAt(ranking, truth, nTrue),
    auroc: auroc(ranking, truth),
    spearman: rankStrengthSpearman(ranking, truth, strength),
    aucAbs: area.auc_abs,
    aucLog2: area.auc_log2,
    curveRatio: trueArea > 0 ? area.auc_log2 / trueArea : NaN,
  };
}

/** One planted circuit through every method; `step` is called after each attribution and each curve. */
export async function measurePlanted(
  c: PlantedCircuit,
  methods: RankingMethod[],
  conditionId: string,
  step: (phase: string) => void,
  parallel?: boolean,
): Promise<PlantedResult> {
  const t0 = performance.now();
  const { pm, f0, f1 } = c;
  const seed = c.spec.seed;
  const pool = await PairPool.start(pm, parallel);
  const T = c.spec.seqLen;
  const B = c.evalTokens.length / T;
  const tokens = tf.tensor2d(c.evalTokens, [B, T], 'int32');
  const clean = pm.clean(tokens);
  let full: tf.Tensor3D | null = null;
  try {
    const truth = Uint8Array.from(c.map, (m) => (m !== 0 ? 1 : 0));
    const strength = trueStrengths(c.map, await evalCodes(c), f0, f1, T, c.spec.segment);
    // The true order: true edges by strength (those whose upstream latent never fires score 0), the rest after.
    const rankings: Record<string, Int32Array> = { true: rankByScore(Float32Array.from(strength), seed) };
    for (const m of methods) {
      if (m.kind === 'random') rankings[m.id] = randomRanking(f0 * f1, seed);
      else {
        rankings[m.id] = rankByScore(await igScores(c, pool, m), seed);
        step(`attribution ${m.id}`);
      }
    }
    full = await pm.fullCircuitLogits(clean);
    const grid = gridFor('full', f0, f1);
    const curves: Record<string, number[]> = {};
    for (const [id, ranking] of Object.entries(rankings)) {
      curves[id] = await curveOf(c, pool, clean, full, ranking, grid);
      step(`ablation ${id}`);
    }
    const trueArea = scores(grid, curves.true, f0, f1).auc_log2;
    const recovery: Record<string, Recovery> = {};
    for (const [id, ranking] of Object.entries(rankings))
      recovery[id] = recoveryOf(ranking, truth, strength, grid, curves[id], trueArea, f0, f1);
    return {
      condition: conditionId,
      segment: c.spec.segment,
      seed,
      trueEdges: truth.reduce((a, b) => a + b, 0),
      edges: f0 * f1,
      grid,
      curves,
      recovery,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    tf.dispose([tokens, clean.up, clean.logits, ...Object.values(clean.context), ...(full ? [full] : [])]);
    await pool.close();
  }
}

export async function validateRanking(opts: ValidateOptions): Promise<ValidationReport> {
  const started = performance.now();
  const { config } = opts;
  const preset = opts.preset ?? VALIDATION_PRESETS[config.preset];
  const igCount = preset.methods.filter((m) => m.kind === 'ig').length;
  const circuits = preset.conditions.length * PLANTED_SEGMENTS.length * config.seeds;
  // Steps: each IG attribution and each curve (methods + the true order) of every circuit.
  const meter = new ProgressMeter(circuits * (igCount + preset.methods.length + 1));
  let done = 0;
  const results: PlantedResult[] = [];
  for (const cond of preset.conditions)
    for (const segment of PLANTED_SEGMENTS)
      for (let s = 0; s < config.seeds; s++) {
        if (opts.signal?.aborted) throw new CancelledError(`cancelled at condition ${cond.id}`);
        const spec: PlantedSpec = {
          segment,
          knobs: cond.knobs,
          f0: preset.f0,
          f1: preset.f1,
          vocab: preset.vocab,
          seqLen: preset.seqLen,
          attributionSeqs: preset.attributionSeqs,
          evalSeqs: preset.evalSeqs,
          seed: config.seed + s,
        };
        const circuit = buildPlanted(spec);
        try {
          const step = (phase: string) => {
            if (opts.signal?.aborted) throw new CancelledError(`cancelled at condition ${cond.id}`);
            done += 1;
            opts.onProgress?.({
              ...meter.tick(done, 1), // one unit per step: the CLI and the app show the rate in steps/s
              phase: `${cond.id} · ${segment} · seed ${spec.seed} · ${phase}`,
            });
          };
          results.push(await measurePlanted(circuit, preset.methods, cond.id, step, opts.parallel));
        } finally {
          circuit.dispose();
        }
      }
  const { summary, failures } = summarise(results, preset);
  return {
    config,
    preset,
    thresholds: { ...THRESHOLDS },
    results,
    summary,
    failures,
    backend: backendReport().name,
    wallSeconds: (performance.now() - started) / 1000,
  };
}
