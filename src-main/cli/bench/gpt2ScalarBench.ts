/**
 * `bench gpt2-scalar`: one SCALAR pair at GPT-2 Small's real shapes (issue 12 item 5), random weights — the LM
 * (50,257 × 768, 12 blocks of 12 heads, MLP 3,072, context 1,024; Gpt.init) and two TopK SAEs of 24,576 latents,
 * k 32 (SPEC §3.1 init) at one ffblock pair (blocks.L.hook_resid_mid → blocks.L.hook_resid_post, L = 6 unless
 * --layer) — at the `gpt2-paper` settings: three 128-token windows of the built-in corpus (GPT-2 BPE) for the
 * attribution set and three for the evaluation set, S = 4, reference scaling, 36 budgets 10⁰ … 10⁶.
 *
 * Everything runs through evaluatePairModel under the memory bound (--max-memory-mb, default 6,000). The
 * attribution is measured in full; the ablation runs for --ablation-seconds (default 120) and the remaining
 * budgets are only counted (their units: ChunkSubcircuit.countUnits), then extrapolated as
 *   seconds(budget) ≈ a + b · units(budget)
 * with b the per-unit seconds of a timed sample of the last budget's units (its first batches, both threads:
 * ablatePair's unitSample) and a the median over the measured budgets of (seconds − b · units): the rest of the
 * LM, the KL and the host work of a budget (the median leaves out the first unit passes, which also build each
 * thread's latent tables). The JSON says which figures are measured and which extrapolated, and gives the
 * process's CPU seconds beside the wall seconds (another job shared the two cores).
 */
import { GptConfigSchema } from '../../../src-shared/lm.ts';
import { SCALAR_PRESETS, ScalarEvalConfigSchema } from '../../../src-shared/scalar.ts';
import { Gpt } from '../../engine/lm/gpt.ts';
import { Rng } from '../../engine/random.ts';
import { setupPositions } from '../../engine/sae/positions.ts';
import { initDictionary, type SaeWeights } from '../../engine/sae/topk.ts';
import { evaluatePairModel } from '../../engine/scalar/evaluate.ts';
import { mb, MemorySampler } from '../../engine/scalar/memory.ts';
import { PairModel } from '../../engine/scalar/pair.ts';
import { encodeGpt2 } from '../../engine/text/bpe.ts';
import { loadCorpus, type Batch } from '../../engine/text/index.ts';
import * as tf from '@tensorflow/tfjs';

export const GPT2_SMALL = GptConfigSchema.parse({
  vocabSize: 50257,
  contextLength: 1024,
  dModel: 768,
  nLayer: 12,
  nHead: 12,
  dMlp: 3072,
});

/** A TopK SAE of width F on D (SPEC §3.1 init: W_dec uniform ±√(6/D), W_enc = W_decᵀ, biases 0). */
function randomSae(F: number, D: number, seed: number): SaeWeights {
  const { wEnc, wDec } = initDictionary(F, D, new Rng(seed));
  return {
    wEnc: tf.tensor2d(wEnc, [D, F]),
    bEnc: tf.zeros([F]) as tf.Tensor1D,
    wDec: tf.tensor2d(wDec, [F, D]),
    bDec: tf.zeros([D]) as tf.Tensor1D,
  };
}

/** `count` windows of T tokens from the built-in corpus in GPT-2 BPE, from window `from`. */
function windows(ids: Int32Array, from: number, count: number, T: number): Batch {
  return {
    inputs: ids.slice(from * T, (from + count) * T),
    targets: ids.slice(from * T + 1, (from + count) * T + 1),
    starts: Int32Array.from({ length: count }, (_, b) => (from + b) * T),
    batchSize: count,
    contextLength: T,
  };
}

/** The median of the values (0 for none). */
function median(v: number[]): number {
  if (v.length === 0) return 0;
  const s = [...v].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export async function benchGpt2Scalar(
  opts: { layer?: number; maxMemoryMb?: number; ablationSeconds?: number; F?: number; k?: number } = {},
) {
  const sampler = new MemorySampler();
  const F = opts.F ?? 24576;
  const k = opts.k ?? 32;
  const layer = opts.layer ?? 6;
  const t0 = performance.now();
  const lm = Gpt.init(GPT2_SMALL, 1);
  const pair = setupPositions('ffblock', GPT2_SMALL.nLayer).pairs[layer];
  const pm = new PairModel(
    lm,
    pair,
    { w: randomSae(F, GPT2_SMALL.dModel, 2), k },
    { w: randomSae(F, GPT2_SMALL.dModel, 3), k },
  );
  const buildSeconds = (performance.now() - t0) / 1000;
  const config = ScalarEvalConfigSchema.parse({
    sae: 'bench',
    ...SCALAR_PRESETS['gpt2-paper'],
    bootstrap: 0,
    maxMemoryMb: opts.maxMemoryMb ?? 6000,
  });
  const T = config.seqLen!;
  const text = loadCorpus(config.corpus).text;
  const ids = encodeGpt2(text.slice(0, 200_000));
  const attribution = [windows(ids, 0, config.attributionSeqs, T)];
  const evaluation = [windows(ids, config.attributionSeqs, config.evalSeqs, T)];
  const limit = opts.ablationSeconds ?? 120;
  const t1 = performance.now();
  const cpu0 = process.cpuUsage();
  try {
    let said = { phase: '', at: 0 };
    const r = await evaluatePairModel(pm, {
      config,
      attribution,
      evaluation,
      ablationTimeLimitSeconds: limit,
      // Progress on stderr: a phase's start, then every 30 s.
      onProgress: (p) => {
        const now = performance.now();
        if (p.phase === said.phase && now - said.at < 30_000) return;
        said = { phase: p.phase, at: now };
        const t = ((now - t1) / 1000).toFixed(0);
        process.stderr.write(
          `  ${t} s: ${p.phase} ${p.step}/${p.total}, rss ${mb(process.memoryUsage().rss)} MB\n`,
        );
      },
    });
    const totalSeconds = (performance.now() - t1) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const ab = r.ablation;
    const measured = ab.perBudget.filter((b) => b.seconds !== null);
    const sample = ab.unitSample;
    const b = sample && sample.units > 0 ? sample.seconds / sample.units : 0;
    const fit = { a: median(measured.map((m) => m.seconds! - b * m.units)), b };
    const counted = ab.perBudget.filter((b) => b.seconds === null);
    const chunkFactor = ab.chunks / Math.max(1, ab.measuredChunks);
    const ablationMeasured = measured.reduce((s, b) => s + b.seconds!, 0);
    const ablationExtrapolated =
      (ablationMeasured + counted.reduce((s, b) => s + fit.a + fit.b * b.units, 0)) * chunkFactor;
    const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
    const peaks = sampler.stop();
    return {
      shapes: {
        lm: 'GPT-2 Small shapes, random init: V 50257, D 768, 12 layers × 12 heads, MLP 3072, context 1024',
        pair: `${r.up} -> ${r.down}`,
        sae: `TopK F ${F}, k ${k} (random)`,
        edges: r.f0 * r.f1,
      },
      settings: {
        preset: 'gpt2-paper',
        attribution_tokens: config.attributionSeqs * T,
        evaluation_tokens: config.evalSeqs * T,
        steps_S: config.steps,
        scaling: config.scaling,
        grid: `${r.grid.length} budgets ${r.grid[0]} … ${r.grid[r.grid.length - 1]}`,
        max_memory_mb: config.maxMemoryMb,
      },
      seconds: {
        build_model_and_saes: round(buildSeconds),
        attribution_active_sets: round(r.seconds.activeSets),
        attribution_scores: round(r.seconds.scores),
        ranking_top_k: round(r.seconds.ranking),
        attribution_total: round(r.seconds.attribution),
        ablation_measured: round(ablationMeasured),
        ablation_budgets_measured: `${ab.measuredBudgets} of ${r.grid.length}`,
        ablation_chunks_measured: `${ab.measuredChunks} of ${ab.chunks}`,
        ablation_extrapolated_all_budgets: round(ablationExtrapolated),
        pair_extrapolated_total: round(r.seconds.attribution + ablationExtrapolated),
        pair_wall_measured: round(totalSeconds),
        // Wall time depends on what else the machine runs; CPU time of this process (both threads) less so.
        pair_cpu_measured: round((cpu.user + cpu.system) / 1e6),
        cpu_attribution: round(r.seconds.cpuAttribution),
        cpu_ablation_measured: round(r.seconds.cpuAblation),
        extrapolation:
          `per budget a + b·units: b ${round(fit.b * 1000, 4)} ms per unit from ${sample?.units ?? 0} timed units ` +
          `of budget ${sample?.n ?? '—'} (${round(sample?.seconds ?? 0)} s), a ${round(fit.a, 3)} s the median ` +
          `of the ${measured.length} measured budgets less their units; unmeasured budgets' units counted exactly` +
          (chunkFactor > 1 ? `; × ${round(chunkFactor)} for the unmeasured chunks` : ''),
      },
      attribution: r.attribution,
      ablation: {
        chunks: ab.chunks,
        seqs_per_chunk: ab.seqsPerChunk,
        unit_batch_tokens: ab.unitBatchTokens,
        per_budget: ab.perBudget.map((b) => ({
          n: b.n,
          units: b.units,
          seconds:
            b.seconds === null ? `~${round(fit.a + fit.b * b.units)} (extrapolated)` : round(b.seconds),
        })),
      },
      memory: {
        bound_mb: r.memory.bound_mb,
        accounted_peak_mb: r.memory.accounted_peak_mb,
        largest_accounted_mb: r.memory.largest,
        measured_during_pair: r.memory.measured,
        measured_whole_bench: peaks,
        resident_note: `the LM is ${mb(4 * 124_439_808)} MB of float32 weights per thread (a worker thread holds a copy)`,
      },
      full_circuit_kl: round(r.fullCircuitKl, 5),
    };
  } finally {
    sampler.stop();
    tf.dispose(Object.values(pm.up.w).concat(Object.values(pm.down.w)));
    lm.dispose();
  }
}
