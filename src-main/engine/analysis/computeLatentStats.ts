/**
 * Latent statistics for every SAE of a run (issue 10, item 1) over an evaluation set, streamed:
 *
 * 1. one pass over the evaluation windows in mini-batches: the frozen LM's clean activations at every SAE hook,
 *    each SAE's TopK codes → LatentAccumulator (counts, sums, max, histogram, top-context heap, reservoir) and
 *    the codes appended to a scratch file per SAE; JSAE pairs also accumulate their Jacobian entries;
 * 2. per SAE: the summary and histogram rows, the context windows of the chosen tokens read back from the
 *    scratch file (one sequential pass), direct logit effects of the decoder rows where the hook is in the
 *    residual stream; the scratch file is deleted.
 *
 * Memory is O(Σ F · (topContexts + reservoir + bins)) plus one mini-batch, whatever the number of tokens. Rows
 * go out through `emit` in chunks (the job posts them to the main thread, which writes them to the store).
 * Nothing is resumable inside: a restarted job recomputes from scratch (the job is short; see the runner).
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import {
  type LatentContextRow,
  type LatentLogitRow,
  type LatentRowsBatch,
  type LatentStatsConfig,
  type LatentSummaryRow,
} from '../../../src-shared/latents.ts';
import { readAndDispose, tidy } from '../backend.ts';
import { CancelledError } from '../lm/train.ts';
import type { Gpt } from '../lm/gpt.ts';
import { ProgressMeter, type Progress } from '../progress.ts';
import { lmActivations } from '../sae/lmActivations.ts';
import type { SaeSet } from '../sae/saeSet.ts';
import { encode } from '../sae/topk.ts';
import { GPT2_VOCAB_SIZE, tokenText, type Batch } from '../text/index.ts';
import { CodeSpill } from './codeSpill.ts';
import { JacobianAccumulator } from './jacobianStats.ts';
import { contextRequests, contextWindows, LatentAccumulator, type LatentResult } from './latentStats.ts';
import { logitEffects, logitEffectsAt } from './logitEffects.ts';

export interface LatentStatsInput {
  lm: Gpt;
  set: SaeSet;
  config: LatentStatsConfig;
  /** The LM's tokenizer (readLmTokenizerName); omitted: ASCII at vocabulary 128, GPT-2 BPE at 50,257, else ids. */
  tokenizer?: 'ascii' | 'gpt2';
  /** The evaluation windows as one batch ([seqs, T] inputs). */
  windows: Batch;
  /** Folder for the scratch code files (created if needed, emptied of them at the end). */
  scratchDir: string;
  signal?: AbortSignal;
  onProgress?: (p: Progress & { phase: string }) => void;
  emit: (rows: LatentRowsBatch) => void;
}

export interface LatentStatsSummary {
  tokens: number;
  seqs: number;
  seqLen: number;
  seconds: { pass: number; finish: number; total: number };
  hooks: {
    hook: string;
    width: number;
    dead: number;
    dense: number;
    aliveFrac: number;
    /** Wall seconds of this SAE's summaries, context windows and logit effects. */
    seconds: { summaries: number; contexts: number; logits: number };
  }[];
  jacobianPairs: string[];
}

/** Latents per message (kept small: one store transaction each). */
const SUMMARY_CHUNK = 512;
const CONTEXT_CHUNK = 256;
/** Latents whose context windows are gathered in one pass over the scratch codes (bounds the windows held). */
const CONTEXT_PASS = 4096;

export async function computeLatentStats(input: LatentStatsInput): Promise<LatentStatsSummary> {
  const { lm, set, config, windows, emit } = input;
  const t0 = performance.now();
  const T = windows.contextLength;
  const S = windows.batchSize;
  const hooks = set.views.map((v) => v.hook);
  const V = lm.config.vocabSize;
  const tokenizer = input.tokenizer ?? (V === 128 ? 'ascii' : V >= GPT2_VOCAB_SIZE ? 'gpt2' : 'ids');
  const histogram = {
    minLog10: config.histMinLog10,
    maxLog10: config.histMaxLog10,
    binsPerDecade: config.histBinsPerDecade,
  };
  fs.mkdirSync(input.scratchDir, { recursive: true });
  const accs = set.views.map(
    (v) =>
      new LatentAccumulator(v.width, {
        topContexts: config.topContexts,
        quantileBuckets: config.quantileBuckets,
        samplesPerBucket: config.samplesPerBucket,
        reservoir: config.reservoir,
        histogram,
        seed: `latent-stats/${config.seed}/${v.hook}`,
      }),
  );
  const spills = set.views.map((v, h) => new CodeSpill(path.join(input.scratchDir, `codes-${h}.bin`), v.k));
  const jacobians =
    set.spec.arch === 'jsae'
      ? await Promise.all(
          set.pairs.map((p) => JacobianAccumulator.create(lm, set, p, `${set.spec.setup}:${p.index}`)),
        )
      : [];
  const nBatches = Math.ceil(S / config.batchSize);
  const meter = new ProgressMeter(nBatches + hooks.length);
  const check = (where: string) => {
    if (input.signal?.aborted) throw new CancelledError(`cancelled ${where}`);
  };
  try {
    emit({ reset: true, windows: { seqs: S, seqLen: T, tokenizer, ids: Int32Array.from(windows.inputs) } });
    // 1. The pass over the evaluation set.
    for (let b = 0; b < nBatches; b++) {
      check(`at batch ${b}`);
      const from = b * config.batchSize;
      const count = Math.min(config.batchSize, S - from);
      const batch: Batch = {
        inputs: windows.inputs.subarray(from * T, (from + count) * T),
        targets: windows.targets.subarray(from * T, (from + count) * T),
        starts: windows.starts.subarray(from, from + count),
        batchSize: count,
        contextLength: T,
      };
      const acts = lmActivations(lm, batch, hooks);
      try {
        const codes: Record<string, { idx: Int32Array; val: Float32Array }> = {};
        for (const [h, v] of set.views.entries()) {
          // A ReLU / JumpReLU SAE's codes have v.k = d_sae slots (topk.ts thresholdCodes): the spill's width.
          const sc = tidy(() => encode(acts[v.hook], set.weights(v), v.k));
          const [idx, val] = await Promise.all([readAndDispose(sc.idx), readAndDispose(sc.val)]);
          const c = { idx: idx as Int32Array, val: val as Float32Array };
          codes[v.hook] = c;
          accs[h].add(c.idx, c.val, v.k, from * T);
          spills[h].append(c.idx, c.val);
        }
        for (const j of jacobians)
          await j.add(
            acts[j.pair.up],
            codes[j.pair.up],
            codes[j.pair.down],
            set.view(j.pair.up).k,
            set.view(j.pair.down).k,
          );
      } finally {
        tf.dispose(Object.values(acts));
      }
      input.onProgress?.({ ...meter.tick(b + 1, count * T), phase: 'activations' });
    }
    const tPass = performance.now();

    // 2. Per SAE: summaries, histograms, contexts, logit effects.
    const hookSummaries: LatentStatsSummary['hooks'] = [];
    for (const [h, v] of set.views.entries()) {
      check(`at ${v.hook}`);
      const tHook = performance.now();
      const acc = accs[h];
      const N = acc.tokens;
      const results: LatentResult[] = [];
      for (let f = 0; f < v.width; f++) results.push(acc.result(f));
      const dead = results.filter((r) => r.count === 0).length;
      const dense = results.filter((r) => r.count / N > config.denseThreshold).length;
      const logit = logitEffectsAt(v.hook);
      emit({
        hooks: [
          {
            hook: v.hook,
            width: v.width,
            chunk: v.chunk,
            position: v.position,
            k: v.k,
            tokens: N,
            dead,
            dense,
            tokenizer,
            logitEffects: logit.available,
            logitNote: logit.note,
            ...{
              histMinLog10: histogram.minLog10,
              histMaxLog10: histogram.maxLog10,
              histBinsPerDecade: histogram.binsPerDecade,
            },
            meta: {
              seqs: S,
              seqLen: T,
              denseThreshold: config.denseThreshold,
              topContexts: config.topContexts,
              quantileBuckets: config.quantileBuckets,
              samplesPerBucket: config.samplesPerBucket,
              reservoir: config.reservoir,
              contextBefore: config.contextBefore,
              contextAfter: config.contextAfter,
              corpus: config.corpus,
            },
          },
        ],
      });
      for (let f0 = 0; f0 < v.width; f0 += SUMMARY_CHUNK) {
        const rows: LatentSummaryRow[] = results.slice(f0, f0 + SUMMARY_CHUNK).map((r) => {
          let first = 0;
          let last = r.hist.length - 1;
          while (first <= last && r.hist[first] === 0) first++;
          while (last >= first && r.hist[last] === 0) last--;
          return {
            latent: r.latent,
            count: r.count,
            freq: N > 0 ? r.count / N : 0,
            meanAct: r.mean,
            maxAct: r.max,
            dead: r.count === 0,
            dense: N > 0 && r.count / N > config.denseThreshold,
            chunk: v.chunk ? Math.floor(r.latent / v.chunk) : null,
            topTokens: topTokens(r, windows.inputs, tokenizer),
            histFirst: first <= last ? first : 0,
            hist: first <= last ? Array.from(r.hist.subarray(first, last + 1)) : [],
          };
        });
        emit({ summaries: { hook: v.hook, rows } });
      }
      const tSummaries = performance.now();
      // Context windows: per range of latents, one sequential pass over the scratch codes.
      const bucketRange = new Map<string, [number, number]>();
      for (const r of results)
        for (const q of r.quantiles) bucketRange.set(`${r.latent}/${q.bucket}`, [q.lo, q.hi]);
      for (let f0 = 0; f0 < v.width; f0 += CONTEXT_PASS) {
        const f1 = Math.min(v.width, f0 + CONTEXT_PASS);
        const byLatent = new Map<number, LatentContextRow[]>();
        for (const w of contextWindows(
          results.slice(f0, f1).flatMap(contextRequests),
          (seq) => spills[h].read(seq * T, T),
          windows.inputs,
          T,
          v.k,
          config.contextBefore,
          config.contextAfter,
        )) {
          const range = w.bucket === null ? null : bucketRange.get(`${w.latent}/${w.bucket}`);
          if (!byLatent.has(w.latent)) byLatent.set(w.latent, []);
          byLatent.get(w.latent)!.push({
            kind: w.kind,
            index: w.index,
            bucket: w.bucket,
            bucketLo: range ? range[0] : null,
            bucketHi: range ? range[1] : null,
            act: w.act,
            seq: w.seq,
            pos: w.pos,
            start: w.start,
            len: w.ids.length,
            acts: w.acts,
          });
        }
        const latents = [...byLatent.keys()].sort((x, y) => x - y);
        for (let c0 = 0; c0 < latents.length; c0 += CONTEXT_CHUNK) {
          const rows = latents.slice(c0, c0 + CONTEXT_CHUNK).map((latent) => ({
            latent,
            // Top contexts by rank, then the quantile samples in order.
            contexts: byLatent
              .get(latent)!
              .sort((x, y) => (x.kind === y.kind ? x.index - y.index : x.kind === 'top' ? -1 : 1)),
          }));
          emit({ contexts: { hook: v.hook, rows } });
        }
      }
      spills[h].dispose();
      const tContexts = performance.now();
      if (logit.available && config.logitTokens > 0) {
        const w = set.weights(v).wDec;
        const wDec = Float32Array.from((await w.data()) as Float32Array);
        if (!(w instanceof tf.Variable)) w.dispose(); // a staircase view's prefix slice
        // The longest phase at GPT-2 size (F × V effects): its share shows in the phase, the step stays whole.
        const at = meter.tick(nBatches + h);
        const eff = await logitEffects(lm, wDec, v.width, config.logitTokens, {
          onBlock: (done, total) => {
            check(`in the logit effects of ${v.hook}`);
            const phase = `logit effects ${v.hook} (${Math.floor((100 * done) / total)} %)`;
            input.onProgress?.({ ...at, phase });
          },
        });
        for (let f0 = 0; f0 < v.width; f0 += SUMMARY_CHUNK) {
          const rows: LatentLogitRow[] = [];
          for (let f = f0; f < Math.min(v.width, f0 + SUMMARY_CHUNK); f++)
            rows.push({
              latent: f,
              topIds: eff.topIds.slice(f * eff.n, (f + 1) * eff.n),
              topValues: eff.topValues.slice(f * eff.n, (f + 1) * eff.n),
              bottomIds: eff.bottomIds.slice(f * eff.n, (f + 1) * eff.n),
              bottomValues: eff.bottomValues.slice(f * eff.n, (f + 1) * eff.n),
            });
          emit({ logits: { hook: v.hook, rows } });
        }
      }
      hookSummaries.push({
        hook: v.hook,
        width: v.width,
        dead,
        dense,
        aliveFrac: (v.width - dead) / v.width,
        seconds: {
          summaries: (tSummaries - tHook) / 1000,
          contexts: (tContexts - tSummaries) / 1000,
          logits: (performance.now() - tContexts) / 1000,
        },
      });
      input.onProgress?.({ ...meter.tick(nBatches + h + 1), phase: `contexts ${v.hook}` });
    }
    for (const j of jacobians) {
      check('at the Jacobian entries');
      emit({ jacobian: j.result({ top: config.jacobianTop, partners: config.jacobianPartners }) });
    }
    const tEnd = performance.now();
    return {
      tokens: S * T,
      seqs: S,
      seqLen: T,
      seconds: { pass: (tPass - t0) / 1000, finish: (tEnd - tPass) / 1000, total: (tEnd - t0) / 1000 },
      hooks: hookSummaries,
      jacobianPairs: jacobians.map((j) => j.label),
    };
  } finally {
    for (const s of spills) s.dispose();
  }
}

/** Up to five tokens the latent's top contexts are centred on, most frequent first (then strongest first). */
function topTokens(r: LatentResult, tokens: ArrayLike<number>, tokenizer: string): string[] {
  const counts = new Map<number, number>();
  for (const c of r.top) counts.set(tokens[c.token], (counts.get(tokens[c.token]) ?? 0) + 1);
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([id]) => tokenText(id, tokenizer));
}
