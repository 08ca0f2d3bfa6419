/**
 * Step 2 of a SCALAR pair: progressive ablation over the edge grid on the evaluation set, in chunks of whole
 * sequences sized to the memory bound (the rest of the LM mixes positions, so a chunk is never smaller than a
 * sequence). Per chunk: the clean pass (target logits), the full circuit, then every budget of the grid — the
 * work a budget reuses from the previous one (unit values) lives within the chunk, so the loop is chunks
 * outside, budgets inside. Per-token KL is written into [grid] × [tokens] arrays at the chunk's offset, so the
 * curve is the one an unchunked pass gives (identical when one chunk holds everything, as for toy sizes).
 *
 * Per-token bytes of a chunk (declared to the MemoryBudget): logits [V] for the target, the full circuit, a
 * budget's subcircuit and the KL's softmax temporaries (9·V float32), the rest of the LM's activations, and the
 * chunk's R / previous R / full pre₁ and keys (ablationSparse.ts). Unit batches are sized separately.
 */
import * as tf from '@tensorflow/tfjs';
import type { ScalarEvalConfig } from '../../../src-shared/scalar.ts';
import { BATCH_TOKENS } from './ablation.ts';
import { ablationOnDevice, DeviceSubcircuitEvaluator } from './ablationDevice.ts';
import { ChunkSubcircuit, chunkBytesPerToken } from './ablationSparse.ts';
import type { MemoryBudget } from './memory.ts';
import { perTokenKl, type PairModel } from './pair.ts';
import type { PairPool } from './pairPool.ts';
import { KeptIndex, type RankedEdges } from './sparseRanking.ts';

export interface AblationReport {
  chunks: number;
  seqsPerChunk: number;
  /** Tokens per segment pass of the units (and of the full circuit's pass, which needs every column). */
  unitBatchTokens: number;
  /** Units evaluated, summed over budgets and chunks. */
  units: number;
  device: boolean;
  /** Per budget, summed over chunks: units evaluated and seconds (null where only counted, see timeLimitSeconds). */
  perBudget: { n: number; units: number; seconds: number | null }[];
  /** Budgets evaluated (all of them unless a time limit stopped the pass). */
  measuredBudgets: number;
  /** Chunks evaluated. */
  measuredChunks: number;
  /** With a time limit: the first units of the grid's last budget evaluated and timed (per-unit cost there). */
  unitSample: { n: number; units: number; seconds: number } | null;
}

export interface AblationResult {
  /** Per-token KL at every budget, [grid] × [tokens]. */
  kls: Float32Array[];
  /** Per-token KL(full model ‖ full circuit). */
  fullCircuitKl: Float32Array;
  report: AblationReport;
}

/**
 * Tokens per segment pass: the largest power-of-two fraction of BATCH_TOKENS whose full-circuit pass (every
 * encoder column) fits `room` bytes on every core; a unit batch needs at most that many columns, so no less.
 */
export function unitBatching(pm: PairModel, threads: number, room: number, span: number) {
  const M = pm.lm.config.dMlp;
  const { D, f1 } = pm;
  const bytes = (bt: number, c: number) => 4 * threads * (bt * (M + D + 2 * c) + M * c);
  // The full circuit's pass needs every column: it sets the batch size; units then get what columns fit.
  let bt = BATCH_TOKENS;
  while (bt > span && bytes(bt, f1) > room) bt = Math.max(span, Math.floor(bt / 2));
  if (bytes(bt, f1) > room)
    throw new Error(
      `one segment pass of ${bt} tokens needs ${Math.ceil(bytes(bt, f1) / 2 ** 20)} MB ` +
        `but ${Math.floor(room / 2 ** 20)} MB are left of the bound; raise --max-memory-mb`,
    );
  return bt;
}

export async function ablatePair(opts: {
  pm: PairModel;
  pool: PairPool;
  config: ScalarEvalConfig;
  tokens: { data: Int32Array; B: number; T: number };
  grid: number[];
  ranked: RankedEdges;
  budget: MemoryBudget;
  check: () => void;
  progress: (step: number, total: number, units: number) => void;
  /**
   * Benchmarks only: once the pass has run this long, the rest of the current chunk's budgets are only counted
   * (their units, ChunkSubcircuit.countUnits), later chunks are skipped, and their KL is NaN.
   */
  timeLimitSeconds?: number;
}): Promise<AblationResult> {
  const { pm, pool, config, tokens, grid, ranked, budget } = opts;
  const { B, T } = tokens;
  const { f0, f1, D } = pm;
  const V = pm.lm.config.vocabSize;
  const M = pm.lm.config.dMlp;
  const device = ablationOnDevice();
  const perSequence = pm.pair.segment === 'block';
  const span = perSequence ? T : 1;
  budget.reserve('per-token KL', 4 * grid.length * B * T + 4 * B * T);
  const kls = grid.map(() => new Float32Array(B * T));
  const fullCircuitKl = new Float32Array(B * T);
  budget.reserve('kept-edge index', KeptIndex.bytes(ranked.ranking.length, f0, f1));
  const kept = new KeptIndex(ranked.ranking, f0, f1);
  // Key words per owner: ⌈k₀/32⌉ per token; a sequence's distinct latents at most T·k₀.
  const k0 = pm.up.w.threshold ? Math.min(f0, 256) : pm.up.k;
  const words = Math.ceil((perSequence ? Math.min(f0, T * k0) : k0) / 32);
  const perToken =
    4 * (9 * V + 8 * D + 2 * M + 2 * pm.lm.config.nHead * T) + chunkBytesPerToken(f1, words, span);
  // Unit batches get up to half of what is left once one sequence is held; chunks then take the rest.
  const batchTokens = unitBatching(pm, pool.threads, (budget.available() - perToken * T) / 2, span);
  const unitBytes = 4 * pool.threads * (batchTokens * (M + D + 2 * f1) + M * f1);
  budget.reserve('unit batches', unitBytes);
  const seqsPerChunk = budget.largestCount('evaluation sequence', perToken * T, B);
  const report: AblationReport = {
    chunks: Math.ceil(B / seqsPerChunk),
    seqsPerChunk,
    unitBatchTokens: batchTokens,
    units: 0,
    device,
    perBudget: grid.map((n) => ({ n, units: 0, seconds: 0 as number | null })),
    measuredBudgets: grid.length,
    measuredChunks: 0,
    unitSample: null,
  };
  const t0 = performance.now();
  const late = () =>
    opts.timeLimitSeconds !== undefined && (performance.now() - t0) / 1000 > opts.timeLimitSeconds;
  const steps = report.chunks * grid.length;
  let step = 0;
  try {
    for (let b0 = 0; b0 < B; b0 += seqsPerChunk) {
      if (late()) {
        for (const k of kls) k.fill(NaN, b0 * T);
        break;
      }
      report.measuredChunks++;
      const b = Math.min(seqsPerChunk, B - b0);
      const at = b0 * T;
      await budget.with('evaluation chunk', perToken * b * T, async () => {
        const chunkTokens = tf.tensor2d(tokens.data.subarray(b0 * T, (b0 + b) * T), [b, T], 'int32');
        const clean = pm.clean(chunkTokens);
        const ev = device
          ? await DeviceSubcircuitEvaluator.create(pm, clean, batchTokens)
          : await ChunkSubcircuit.create(pm, clean, pool, kept, batchTokens);
        try {
          const full =
            ev instanceof ChunkSubcircuit ? await ev.fullCircuitLogits() : await pm.fullCircuitLogits(clean);
          fullCircuitKl.set(await perTokenKl(clean.logits, full), at);
          const target = config.target === 'model' ? clean.logits : full;
          for (const [g, n] of grid.entries()) {
            opts.check();
            if (late() && ev instanceof ChunkSubcircuit) {
              // Benchmarks: count what the rest would evaluate (and time a sample of the last budget's); no KL.
              if (g === grid.length - 1 && !report.unitSample)
                report.unitSample = { n, ...(await ev.sampleUnits(n, 2 * pool.threads * batchTokens)) };
              report.perBudget[g].units += ev.countUnits(n);
              report.perBudget[g].seconds = null;
              report.measuredBudgets = Math.min(report.measuredBudgets, g);
              kls[g].fill(NaN, at);
              continue;
            }
            const tb = performance.now();
            const logits =
              ev instanceof ChunkSubcircuit
                ? await ev.logits(n, { relu: config.relu })
                : await ev.logits(ranked.ranking, n, { relu: config.relu });
            kls[g].set(await perTokenKl(target, logits), at);
            logits.dispose();
            report.units += ev.lastUnits;
            report.perBudget[g].units += ev.lastUnits;
            const pb = report.perBudget[g];
            if (pb.seconds !== null) pb.seconds += (performance.now() - tb) / 1000;
            opts.progress(++step, steps, ev.lastUnits);
          }
          full.dispose();
        } finally {
          if (ev instanceof DeviceSubcircuitEvaluator) ev.dispose();
          tf.dispose([chunkTokens, clean.up, clean.logits, ...Object.values(clean.context)]);
        }
      });
    }
  } finally {
    budget.release('unit batches');
    budget.release('kept-edge index');
  }
  return { kls, fullCircuitKl, report };
}
