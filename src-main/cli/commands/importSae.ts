/** scalar import-sae: SAEs in the SAELens layout (from `scalar export`, SAELens, or another run) as an SAE run. */
import { parseArgs } from 'node:util';
import { defaultLmRef, saeImportSpec } from '../../jobs/lmRef.ts';
import { GLOBAL_OPTIONS, openService, runInForeground, say, UsageError } from '../context.ts';
import { reportSaeRun } from './trainSae.ts';

export const usage = `scalar import-sae FOLDER [--lm RUN_ID|resources:NAME|PATH] [--name NAME] [--data-dir D] [--json]
  --batch-size B --eval-batches N --seq-len T --corpus C   evaluation windows (default 4 × 32 windows of the LM context)
  FOLDER holds one SAELens folder (cfg.json + sae_weights.safetensors) per hook of one setup (tblock, fflayer
  or ffblock). The SAEs are checked against the language model (default: the bundled model), evaluated, and
  stored as a completed SAE run that \`scalar eval\` can measure. Folders written by \`scalar export\` keep their
  architecture (staircases and their variants); any other SAELens SAEs are read as TopK.`;

function count(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} needs a positive integer, got '${v}'`);
  return n;
}

export async function importSaeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ...GLOBAL_OPTIONS,
      lm: { type: 'string' },
      name: { type: 'string' },
      'batch-size': { type: 'string' },
      'eval-batches': { type: 'string' },
      'seq-len': { type: 'string' },
      corpus: { type: 'string' },
    },
    allowPositionals: true,
  });
  if (values.help) return (say(usage), 0);
  if (positionals.length !== 1) throw new UsageError('give exactly one FOLDER to import');
  const lm = values.lm ?? defaultLmRef();
  if (!lm) throw new UsageError('no --lm given and no bundled model found under resources/models');
  const service = openService(values);
  try {
    const spec = saeImportSpec(lm, positionals[0], service.store, {
      batchSize: count(values['batch-size'], '--batch-size'),
      evalBatches: count(values['eval-batches'], '--eval-batches'),
      seqLen: count(values['seq-len'], '--seq-len'),
      corpus: values.corpus,
    });
    const run = await runInForeground(service, {
      spec,
      name: values.name ?? `imported ${spec.config.arch} ${spec.config.setup}`,
    });
    return reportSaeRun(run, values.json ?? false);
  } finally {
    await service.close();
  }
}
