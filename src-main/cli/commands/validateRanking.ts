/**
 * scalar validate-ranking (issue 15): planted-circuit validation of SCALAR's edge ranking, as a stored run.
 * Prints the markdown report (stderr, like every human line of the CLI), the report JSON with --json (stdout),
 * and writes report.md + report.json to --out.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  ValidateRankingConfigSchema,
  VALIDATION_PRESETS,
  type ValidationReport,
} from '../../../src-shared/validation.ts';
import { reportMarkdown } from '../../engine/validation/report.ts';
import { GLOBAL_OPTIONS, openService, printJson, runInForeground, say, UsageError } from '../context.ts';
import { numberFlag } from '../args.ts';

export const usage = `scalar validate-ranking [--preset quick|full] [--seeds N] [--seed S] [--out DIR] [--json]
  Planted-circuit validation of SCALAR's edge ranking: SAE pairs around a segment whose latent map is a known
  sparse matrix (a position-local MLP and a position-mixing attention segment), swept over TopK k, near-ties,
  map density, distractor latents and noise. For each ranking method (IG reference / textbook scaling at several
  S, random) it reports precision / recall at the true edge count, AUROC, Spearman against the true strength and
  the SCALAR curve against the true edge order, with a verdict per condition.
  --preset quick|full   quick: ${VALIDATION_PRESETS.quick.conditions.length} conditions, ${VALIDATION_PRESETS.quick.methods.length} methods (default); full: ${VALIDATION_PRESETS.full.conditions.length} conditions, ${VALIDATION_PRESETS.full.methods.length} methods, bigger pairs
  --seeds N             planted circuits per condition and segment kind (1–16, default 2)
  --seed S              first seed (default 0)
  --out DIR             also write DIR/report.md and DIR/report.json
  --data-dir D  --backend B  --json`;

export async function validateRankingCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...GLOBAL_OPTIONS,
      preset: { type: 'string' },
      seeds: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
    },
  });
  if (values.help) return (say(usage), 0);
  const parsed = ValidateRankingConfigSchema.safeParse({
    preset: values.preset,
    seeds: numberFlag(values.seeds, '--seeds'),
    seed: numberFlag(values.seed, '--seed'),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag = String(issue.path[0] ?? '');
    const given = (values as Record<string, unknown>)[flag];
    throw new UsageError(`option --${flag}: ${issue.message} (got ${String(given)})`);
  }
  if (values.out !== undefined && fs.existsSync(values.out) && !fs.statSync(values.out).isDirectory())
    throw new UsageError(`option --out must be a folder (${values.out} is a file)`);
  const service = openService(values);
  try {
    const run = await runInForeground(service, { spec: { kind: 'validate-ranking', config: parsed.data } });
    if (run.status !== 'completed') {
      say(`run ${run.id} ${run.status}${run.error ? `: ${run.error}` : ''}`);
      if (values.json) printJson({ run_id: run.id, status: run.status, error: run.error });
      return run.status === 'cancelled' ? 130 : 1;
    }
    const report = run.summary as unknown as ValidationReport;
    const markdown = reportMarkdown(report);
    say(markdown);
    if (values.out) {
      fs.mkdirSync(values.out, { recursive: true });
      fs.writeFileSync(path.join(values.out, 'report.md'), markdown);
      fs.writeFileSync(path.join(values.out, 'report.json'), JSON.stringify(report, null, 1));
      say(`wrote ${path.join(values.out, 'report.md')} and report.json`);
    }
    if (values.json) printJson({ run_id: run.id, status: run.status, ...report });
    return 0;
  } finally {
    await service.close();
  }
}
