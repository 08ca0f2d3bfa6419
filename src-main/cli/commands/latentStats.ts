/** scalar latent-stats: latent statistics of a trained SAE run (contexts, histograms, logit effects). */
import { parseArgs } from 'node:util';
import { latentStatsSpec } from '../../api/latents.ts';
import { GLOBAL_OPTIONS, openService, printJson, runInForeground, say, UsageError } from '../context.ts';
import { numberFlag } from '../args.ts';

export const usage = `scalar latent-stats --sae SAE_RUN_ID [--seqs N] [--seq-len T] [--batch-size B] [--corpus C] [--json]
  Computes what the latent pages show for every SAE of the run (the app queues this itself when an SAE run
  completes): --seqs validation windows (default 128) of --seq-len tokens (default the LM's context).
  --data-dir D  --backend B  --json`;

export async function latentStatsCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...GLOBAL_OPTIONS,
      sae: { type: 'string' },
      seqs: { type: 'string' },
      'seq-len': { type: 'string' },
      'batch-size': { type: 'string' },
      corpus: { type: 'string' },
    },
  });
  if (values.help) return (say(usage), 0);
  if (!values.sae) throw new UsageError('option --sae is required (an SAE run id)');
  const config: Record<string, unknown> = {};
  const seqs = numberFlag(values.seqs, '--seqs');
  const seqLen = numberFlag(values['seq-len'], '--seq-len');
  const batchSize = numberFlag(values['batch-size'], '--batch-size');
  if (seqs !== undefined) config.seqs = seqs;
  if (seqLen !== undefined) config.seqLen = seqLen;
  if (batchSize !== undefined) config.batchSize = batchSize;
  if (values.corpus) config.corpus = values.corpus;
  const service = openService(values);
  try {
    const { spec, name } = latentStatsSpec(service.store, values.sae, config);
    const run = await runInForeground(service, { spec, name });
    const out = {
      run_id: run.id,
      status: run.status,
      error: run.error,
      ...((run.summary ?? {}) as Record<string, unknown>),
    };
    if (values.json) printJson(out);
    else say(`latent statistics ${run.status}: run ${run.id}`);
    return run.status === 'completed' ? 0 : 1;
  } finally {
    await service.close();
  }
}
