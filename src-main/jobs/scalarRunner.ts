/** The `scalar` job inside a worker: SCALAR on every requested pair of a trained SAE run (SPEC §4). */
import fs from 'node:fs';
import path from 'node:path';
import type { JobSpec } from '../../src-shared/jobs.ts';
import { subcircuitActivation } from '../../src-shared/sae.ts';
import { loadLmModel, readLmTokenizer } from '../engine/io/lmCheckpoint.ts';
import { readSafetensorsFile, writeSafetensorsFile } from '../engine/io/safetensors.ts';
import { loadSaeSet } from '../engine/sae/checkpoint.ts';
import { defaultMemoryBoundMb } from '../engine/scalar/memory.ts';
import { evaluatePair, topRankedEdges, type PairResult } from '../engine/scalar/evaluate.ts';
import { evalBatches, loadCorpus, prepareSplits, type Batch, type Tokenizer } from '../engine/text/index.ts';
import { progressMessage, throttled, type JobContext } from './runners.ts';

/** Disjoint validation windows: the attribution set, then the evaluation set. */
function windows(
  corpusSpec: string,
  tokenizer: Tokenizer,
  seqLen: number,
  attribution: number,
  evaluation: number,
): { attribution: Batch[]; evaluation: Batch[] } {
  const corpus = loadCorpus(corpusSpec);
  const splits = prepareSplits(tokenizer.encode(corpus.text), seqLen, { corpusName: corpus.name });
  const [all] = evalBatches(splits.val, 1, attribution + evaluation, seqLen);
  const part = (from: number, count: number): Batch => ({
    inputs: all.inputs.slice(from * seqLen, (from + count) * seqLen),
    targets: all.targets.slice(from * seqLen, (from + count) * seqLen),
    starts: all.starts.slice(from, from + count),
    batchSize: count,
    contextLength: seqLen,
  });
  return { attribution: [part(0, attribution)], evaluation: [part(attribution, evaluation)] };
}

export async function runScalar(
  spec: Extract<JobSpec, { kind: 'scalar' }>,
  ctx: JobContext,
): Promise<Record<string, unknown>> {
  const config = spec.config;
  if (!ctx.lmPath || !ctx.saeRun) throw new Error('a scalar job needs its SAE run and language model');
  const lm = loadLmModel(ctx.lmPath);
  const set = loadSaeSet(ctx.saeRun.dir, ctx.saeRun.config, lm.config);
  try {
    const seqLen = config.seqLen ?? lm.config.contextLength;
    const boundMb = config.maxMemoryMb ?? defaultMemoryBoundMb();
    const data = windows(
      config.corpus,
      readLmTokenizer(ctx.lmPath),
      seqLen,
      config.attributionSeqs,
      config.evalSeqs,
    );
    const pairs = set.pairs.filter((p) => !config.pairs || config.pairs.includes(p.index));
    if (pairs.length === 0)
      throw new Error(
        `no pair ${config.pairs?.join(', ')} in this ${set.spec.setup} run (pairs 0–${set.pairs.length - 1})`,
      );
    const due = throttled(250);
    const results = [];
    for (const pair of pairs) {
      const label = `${set.spec.setup}:${pair.index}`;
      const dir = path.join(ctx.runDir, `pair${pair.index}`);
      // A pair finished before an interruption is not measured again: its checkpoint holds everything it gave.
      const key = JSON.stringify({ config, setup: set.spec.setup, pair: pair.index, seqLen });
      const done = readPairCheckpoint(dir, key);
      if (done) {
        ctx.post({
          type: 'log',
          message: `pair ${label}: finished before the run stopped; kept from its checkpoint`,
        });
        ctx.post({ type: 'curve', pair: label, target: config.target, points: done.points });
        ctx.post({ type: 'edges', pair: label, ...done.edges });
        for (const file of ['kl.safetensors', 'edge_scores.safetensors'])
          if (fs.existsSync(path.join(dir, file)))
            ctx.post({
              type: 'artifact',
              kind: 'scalar',
              name: `pair${pair.index}/${file}`,
              meta: { pair: label },
            });
        ctx.post({ type: 'metrics', step: 0, scope: label, values: done.metrics });
        results.push(done.result);
        continue;
      }
      const r = await evaluatePair({
        lm,
        set,
        pair,
        config: { ...config, maxMemoryMb: boundMb },
        attribution: data.attribution,
        evaluation: data.evaluation,
        signal: ctx.signal,
        onProgress: (p) => {
          if (due(p.step === p.total)) {
            const msg = progressMessage(p, {});
            if (msg.type === 'progress') {
              msg.progress.phase = `${label} ${p.phase}`;
              msg.progress.unit = p.phase === 'attribution' ? 'tokens' : 'units';
            }
            ctx.post(msg);
          }
        },
      });
      const points = r.grid.map((n, g) => ({ n, ...r.curve[g] }));
      ctx.post({ type: 'curve', pair: label, target: config.target, points });
      const edges = topRankedEdges(r.ranking, r.rankingScores, r.f1, config.keepEdges);
      ctx.post({ type: 'edges', pair: label, ...edges });
      fs.mkdirSync(dir, { recursive: true });
      const klFile = path.join(dir, 'kl.safetensors');
      const kl = new Float32Array(r.grid.length * r.perTokenKl[0].length);
      r.perTokenKl.forEach((k, g) => kl.set(k, g * k.length));
      writeSafetensorsFile(
        klFile,
        {
          per_token_kl: { dtype: 'F32', shape: [r.grid.length, r.perTokenKl[0].length], data: kl },
          grid: { dtype: 'I32', shape: [r.grid.length], data: Int32Array.from(r.grid) },
        },
        { target: config.target, up: r.up, down: r.down },
      );
      ctx.post({
        type: 'artifact',
        kind: 'scalar',
        name: `pair${pair.index}/kl.safetensors`,
        meta: { pair: label },
      });
      if (r.rankingScores) {
        writeEdgeScores(path.join(dir, 'edge_scores.safetensors'), r, {
          scaling: config.scaling,
          steps: String(config.steps),
          ...(config.steps === 1 ? { single_step_alpha: String(config.singleStepAlpha) } : {}),
          // The reference-scaled quadratic form is finished in float64 (issue 14); earlier files used float32.
          // The low-rank form (GPT-2 widths) sums float32 dot products' squares in float64.
          quadratic_form:
            r.attribution.form === 'low-rank' ? 'low-rank (float32 dots, float64 sums)' : 'float64',
          attribution_path: `${r.attribution.path}${r.attribution.form ? ` (${r.attribution.form})` : ''}`,
          positive_edges: String(r.positiveEdges),
        });
        ctx.post({
          type: 'artifact',
          kind: 'scalar',
          name: `pair${pair.index}/edge_scores.safetensors`,
          meta: { pair: label },
        });
      }
      const metrics = {
        scalar_auc_abs: r.scores.auc_abs,
        scalar_auc_rel: r.scores.auc_rel,
        scalar_auc_log2: r.scores.auc_log2,
        scalar_auc_abs_lo: r.scores.auc_abs_ci[0],
        scalar_auc_abs_hi: r.scores.auc_abs_ci[1],
        scalar_auc_rel_lo: r.scores.auc_rel_ci[0],
        scalar_auc_rel_hi: r.scores.auc_rel_ci[1],
        scalar_auc_log2_lo: r.scores.auc_log2_ci[0],
        scalar_auc_log2_hi: r.scores.auc_log2_ci[1],
        full_circuit_kl: r.fullCircuitKl,
        attribution_seconds: r.seconds.attribution,
        ablation_seconds: r.seconds.ablation,
        ...memoryMetrics(r),
      };
      ctx.post({ type: 'metrics', step: 0, scope: label, values: metrics });
      const result = {
        pair: pair.index,
        label,
        up: r.up,
        down: r.down,
        f0: r.f0,
        f1: r.f1,
        edges: r.f0 * r.f1,
        ...metrics,
        // How the pair was computed inside its memory bound (rankPair.ts, ablatePair.ts, memory.ts).
        memory: r.memory,
        attribution: r.attribution,
        ablation: r.ablation,
        seconds: r.seconds,
      };
      writePairCheckpoint(dir, key, { points, metrics, result, edges });
      results.push(result);
    }
    // The SAELens / SAEBench style evaluation record.
    return {
      eval_type_id: 'scalar',
      eval_config: {
        ...config,
        setup: set.spec.setup,
        arch: set.spec.arch,
        // How the subcircuit applies SAE₁ (its own activation: TopK_k, ReLU, or JumpReLU with its threshold).
        subcircuit_activation: subcircuitActivation(set.spec.arch, config.relu),
        seqLen,
        lm: ctx.saeRun.config.lm,
        // The memory bound each pair ran under (maxMemoryMb, or 60 % of this machine's memory when omitted).
        memory_bound_mb: boundMb,
      },
      eval_result_metrics: { pairs: results },
      backend: ctx.backend.name,
    };
  } finally {
    set.dispose();
    lm.dispose();
  }
}

/** Everything a finished pair gave the run, written last (atomically) so that resume can skip the pair. */
export const PAIR_CHECKPOINT = 'done.safetensors';

interface PairCheckpoint {
  points: { n: number; mean: number; lo: number; hi: number }[];
  metrics: Record<string, number>;
  result: Record<string, unknown>;
  edges: { i: Int32Array; j: Int32Array; score: Float32Array };
}

// JSON has no NaN or ±Infinity; they are kept as strings so a restored pair equals a measured one exactly.
const NON_FINITE = new Map<string, number>([
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
]);
const keepNonFinite = (_: string, v: unknown) =>
  typeof v === 'number' && !Number.isFinite(v) ? String(v) : v;
const reviveNonFinite = (_: string, v: unknown) =>
  typeof v === 'string' && NON_FINITE.has(v) ? NON_FINITE.get(v) : v;

function writePairCheckpoint(dir: string, key: string, c: PairCheckpoint): void {
  writeSafetensorsFile(
    path.join(dir, PAIR_CHECKPOINT),
    {
      i: { dtype: 'I32', shape: [c.edges.i.length], data: c.edges.i },
      j: { dtype: 'I32', shape: [c.edges.j.length], data: c.edges.j },
      score: { dtype: 'F32', shape: [c.edges.score.length], data: c.edges.score },
    },
    {
      key,
      pair: JSON.stringify({ points: c.points, metrics: c.metrics, result: c.result }, keepNonFinite),
    },
  );
}

/** The checkpoint of a finished pair measured with these settings, or null (none, another config, unreadable). */
function readPairCheckpoint(dir: string, key: string): PairCheckpoint | null {
  const file = path.join(dir, PAIR_CHECKPOINT);
  if (!fs.existsSync(file)) return null;
  try {
    const f = readSafetensorsFile(file);
    if (f.metadata.key !== key) return null;
    const saved = JSON.parse(f.metadata.pair, reviveNonFinite) as Omit<PairCheckpoint, 'edges'>;
    return {
      ...saved,
      edges: {
        i: f.tensors.i.data as Int32Array,
        j: f.tensors.j.data as Int32Array,
        score: f.tensors.score.data as Float32Array,
      },
    };
  } catch {
    return null; // measured again
  }
}

/** The pair's memory figures as metrics (numbers only): the bound, the accounted peak and the measured peaks. */
function memoryMetrics(r: PairResult): Record<string, number> {
  const m = r.memory;
  const out: Record<string, number> = {
    memory_bound_mb: m.bound_mb,
    memory_accounted_peak_mb: m.accounted_peak_mb,
    peak_rss_mb: m.measured.rss_mb,
    peak_heap_mb: m.measured.heap_used_mb,
    peak_tensor_mb: m.measured.tensor_mb,
  };
  if (m.measured.wasm_heap_mb !== null) out.peak_wasm_heap_mb = m.measured.wasm_heap_mb;
  return out;
}

/**
 * The pair's edge scores: the whole matrix `scores [F₀, F₁]` when the pair is small enough to keep it (as every
 * run before the sparse path), else the ranked edges with their scores (`i`, `j`, `score` by rank: every edge
 * below them in the ranking scores at most the last one; `positive_edges` of them score > 0).
 */
function writeEdgeScores(file: string, r: PairResult, metadata: Record<string, string>): void {
  if (r.edgeScores) {
    writeSafetensorsFile(
      file,
      { scores: { dtype: 'F32', shape: [r.f0, r.f1], data: r.edgeScores } },
      { ...metadata, layout: 'scores[i, j]: upstream latent i, downstream latent j' },
    );
    return;
  }
  const n = r.ranking.length;
  const top = topRankedEdges(r.ranking, r.rankingScores, r.f1, n);
  writeSafetensorsFile(
    file,
    {
      i: { dtype: 'I32', shape: [n], data: top.i },
      j: { dtype: 'I32', shape: [n], data: top.j },
      score: { dtype: 'F32', shape: [n], data: top.score },
    },
    {
      ...metadata,
      layout: `ranked: the first ${n} edges of the ranking (upstream i, downstream j, score) of ${r.f0} × ${r.f1}`,
    },
  );
}
