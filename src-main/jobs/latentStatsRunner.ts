/**
 * The `latent-stats` job inside a worker: statistics of every latent of an SAE run over validation windows
 * (engine/analysis/computeLatentStats.ts), posted to the main thread as `latents` messages that the JobManager
 * writes to the store (store/latents.ts) under this `latents` run.
 *
 * Cancel: checked between mini-batches and between SAEs. Resume: the job is cheap (seconds to a minute on the
 * toy model), so a resumed run starts over — its first message clears whatever the earlier attempt wrote.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { JobSpec } from '../../src-shared/jobs.ts';
import { computeLatentStats } from '../engine/analysis/computeLatentStats.ts';
import { loadLmModel, readLmTokenizerName } from '../engine/io/lmCheckpoint.ts';
import { loadSaeSet } from '../engine/sae/checkpoint.ts';
import { evalBatches, loadCorpus, prepareSplits, tokenizerNamed } from '../engine/text/index.ts';
import { progressMessage, throttled, type JobContext } from './runners.ts';

export const LATENT_SCRATCH_DIR = 'scratch';

export async function runLatentStats(
  spec: Extract<JobSpec, { kind: 'latent-stats' }>,
  ctx: JobContext,
): Promise<Record<string, unknown>> {
  const config = spec.config;
  if (!ctx.lmPath || !ctx.saeRun) throw new Error('a latent-stats job needs its SAE run and language model');
  const lm = loadLmModel(ctx.lmPath);
  const set = loadSaeSet(ctx.saeRun.dir, ctx.saeRun.config, lm.config);
  const scratchDir = path.join(ctx.runDir, LATENT_SCRATCH_DIR);
  try {
    const seqLen = config.seqLen ?? lm.config.contextLength;
    const corpus = loadCorpus(config.corpus);
    const tokenizer = readLmTokenizerName(ctx.lmPath);
    const splits = prepareSplits(tokenizerNamed(tokenizer).encode(corpus.text), seqLen, {
      trainFraction: config.trainFraction,
      corpusName: corpus.name,
    });
    const [windows] = evalBatches(splits.val, 1, config.seqs, seqLen);
    const due = throttled(250);
    const summary = await computeLatentStats({
      lm,
      set,
      config,
      tokenizer,
      windows,
      scratchDir,
      signal: ctx.signal,
      onProgress: (p) => {
        if (!due(p.step === p.total)) return;
        const msg = progressMessage(p, {});
        if (msg.type === 'progress') msg.progress.phase = p.phase;
        ctx.post(msg);
      },
      emit: (rows) => ctx.post({ type: 'latents', rows }),
    });
    for (const h of summary.hooks)
      ctx.post({
        type: 'metrics',
        step: 0,
        scope: h.hook,
        values: { frac_alive: h.aliveFrac, dead_latents: h.dead, dense_latents: h.dense },
      });
    return {
      sae: config.sae,
      arch: ctx.saeRun.config.arch,
      setup: ctx.saeRun.config.setup,
      corpus: config.corpus,
      ...summary,
    };
  } finally {
    fs.rmSync(scratchDir, { recursive: true, force: true });
    set.dispose();
    lm.dispose();
  }
}
