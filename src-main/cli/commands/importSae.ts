/** scalar import-sae: SAEs in the SAELens layout (from `scalar export`, SAELens, or another run) as an SAE run. */
import { importSaeRequestFromOptions, issuesForCli } from '../../../src-shared/jobBuilders.ts';
import { defaultLmRef, saeImportSpec } from '../../jobs/lmRef.ts';
import { importSaeArgs } from '../args.ts';
import { openService, runInForeground, say, UsageError } from '../context.ts';
import { reportSaeRun } from './trainSae.ts';

export const usage = `scalar import-sae FOLDER [--lm RUN_ID|resources:NAME|PATH] [--name NAME] [--data-dir D] [--json]
  --eval-tokens N --seq-len T --corpus C   evaluation set: N validation tokens (default 16384) in windows of T
                   (default the LM context) spread over the validation split
  --batch-size B   windows per forward pass while evaluating (memory only; default 32)
  FOLDER holds one SAELens folder (cfg.json + sae_weights.safetensors) per hook of one setup (tblock, fflayer
  or ffblock). The SAEs are checked against the language model (default: the bundled model), evaluated, and
  stored as a completed SAE run that \`scalar eval\` can measure. Folders written by \`scalar export\` keep their
  architecture (staircases and their variants); any other SAELens SAEs are read as TopK.`;

export async function importSaeCommand(argv: string[]): Promise<number> {
  const { flags, options, evaluation } = importSaeArgs(argv);
  if (flags.help) return (say(usage), 0);
  const lm = options.lm ?? defaultLmRef();
  if (!lm) throw new UsageError('no --lm given and no bundled model found under resources/models');
  const built = importSaeRequestFromOptions({ ...options, lm });
  if (!built.ok) throw new UsageError(issuesForCli(built.issues));
  const service = openService(flags);
  try {
    const spec = saeImportSpec(built.request.lm, built.request.source, service.store, evaluation);
    const run = await runInForeground(service, {
      spec,
      name: built.request.name ?? `imported ${spec.config.arch} ${spec.config.setup}`,
    });
    return reportSaeRun(run, flags.json ?? false);
  } finally {
    await service.close();
  }
}
