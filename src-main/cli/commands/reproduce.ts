/** scalar reproduce: the paper's comparisons over seeds → a report that checks each of its claims. */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  REPRODUCE_SETUPS,
  ReproduceConfigSchema,
  type ReproduceConfig,
} from '../../../src-shared/reproduce.ts';
import type { ClaimVerdict } from '../../../src-shared/reproduce/verdict.ts';
import { VERDICT_MARK } from '../../../src-shared/reproduce/report.ts';
import type { ScalarService } from '../../api/service.ts';
import { defaultLmRef } from '../../jobs/lmRef.ts';
import { preflightPipeline } from '../../jobs/preflight.ts';
import { findUnfinished, runReproduce } from '../../jobs/reproduce.ts';
import { runArtifactsDir, type RunRecord } from '../../store/index.ts';
import { GLOBAL_OPTIONS, numberFlag, type GlobalFlags } from '../args.ts';
import { openService, printJson, say, UsageError } from '../context.ts';
import { ProgressLine } from '../terminal.ts';
import { besideUsage, reproduceBesideCommand } from './reproduceBeside.ts';

export const usage = `scalar reproduce --preset quick|paper-toy [options]
  --seeds N          seeds per architecture (default 3; claims are judged on the seed mean's 95 % CI)
  --seed S           first seed (default 0)
  --setups LIST      comma-separated subset of fflayer,ffblock,tblock (default all three)
  --no-variants      skip the staircase variants (detach, shared bias, tied-all) at tblock
  --lm RUN_ID|resources:NAME|PATH   language model (default: the bundled model)
  --corpus builtin:brown|PATH   text for the SAEs and SCALAR (default builtin:brown)
  --out DIR          also copy report.md, report.json and figures/ to DIR
  --name NAME  --data-dir D  --backend B  --json
A second invocation with the same options reuses every finished SAE and SCALAR run and resumes an unfinished
reproduction; a killed one also resumes with 'scalar resume <run>'.

${besideUsage}`;

/** Command line → config, with one sentence per mistake naming the option. */
export function reproduceArgs(argv: string[]): {
  flags: GlobalFlags;
  config: ReproduceConfig;
  out?: string;
  name?: string;
} {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ...GLOBAL_OPTIONS,
      preset: { type: 'string' },
      seeds: { type: 'string' },
      seed: { type: 'string' },
      setups: { type: 'string' },
      'no-variants': { type: 'boolean', default: false },
      lm: { type: 'string' },
      corpus: { type: 'string' },
      out: { type: 'string' },
      name: { type: 'string' },
    },
    allowPositionals: true,
  });
  if (values.help) return { flags: values, config: undefined as unknown as ReproduceConfig };
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const preset = values.preset;
  if (preset === undefined) throw new UsageError('option --preset is required: quick or paper-toy');
  if (preset !== 'quick' && preset !== 'paper-toy')
    throw new UsageError(`option --preset must be quick or paper-toy (got '${preset}')`);
  const seeds = numberFlag(values.seeds, '--seeds');
  if (seeds !== undefined && (!Number.isInteger(seeds) || seeds < 1 || seeds > 20))
    throw new UsageError(`option --seeds must be a whole number from 1 to 20 (got '${values.seeds}')`);
  const seed = numberFlag(values.seed, '--seed');
  if (seed !== undefined && (!Number.isInteger(seed) || seed < 0))
    throw new UsageError(`option --seed must be a whole number ≥ 0 (got '${values.seed}')`);
  let setups: string[] | undefined;
  if (values.setups !== undefined) {
    setups = values.setups.split(',').map((s) => s.trim());
    const bad = setups.filter((s) => !(REPRODUCE_SETUPS as string[]).includes(s));
    if (bad.length || setups.length === 0)
      throw new UsageError(
        `option --setups takes ${REPRODUCE_SETUPS.join(', ')} separated by commas (got '${bad[0] ?? values.setups}')`,
      );
  }
  const lm = values.lm ?? defaultLmRef();
  if (!lm) throw new UsageError('no --lm given and no bundled model found under resources/models');
  const config = ReproduceConfigSchema.parse({
    preset,
    lm,
    seeds,
    seed,
    setups,
    variants: !values['no-variants'],
    ...(values.corpus !== undefined ? { corpus: values.corpus } : {}),
  });
  return { flags: values, config, out: values.out, name: values.name };
}

export async function reproduceCommand(argv: string[]): Promise<number> {
  if (argv[0] === 'beside') return reproduceBesideCommand(argv.slice(1));
  const { flags, config, out, name } = reproduceArgs(argv);
  if (flags.help) return (say(usage), 0);
  const service = openService(flags);
  try {
    preflightPipeline(config, service.store, { backend: flags.backend }); // before a run exists
    const unfinished = findUnfinished(service.store, config);
    if (unfinished) say(`resuming the unfinished reproduction ${unfinished.id} (same options)`);
    const run = await runReproduceInForeground(service, config, { resume: unfinished?.id, name });
    if (out && run.status === 'completed') copyReport(runArtifactsDir(service.store.dataDir, run.id), out);
    return reportReproduceRun(run, flags.json ?? false, out);
  } finally {
    await service.close();
  }
}

function copyReport(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const f of ['report.md', 'report.json']) fs.copyFileSync(path.join(from, f), path.join(to, f));
  fs.cpSync(path.join(from, 'figures'), path.join(to, 'figures'), { recursive: true });
}

/** Runs (or resumes) a reproduction with a line per step; Ctrl-C cancels the current step. */
export async function runReproduceInForeground(
  service: ScalarService,
  config: ReproduceConfig,
  opts: { resume?: string; name?: string; acceptChangedInputs?: boolean },
): Promise<RunRecord> {
  const line = new ProgressLine();
  let current = '';
  let label = '';
  const off = service.onEvent((e) => {
    if (e.runId === current && e.type === 'progress')
      line.update({ ...e.progress, phase: `${label} ${e.progress.phase ?? ''}`.trim() });
  });
  const onSigint = () => {
    line.log('cancelling the current step (finished steps are kept; resume with scalar resume <run>)...');
    if (current) service.jobs.cancel(current);
  };
  process.on('SIGINT', onSigint);
  try {
    const run = await runReproduce(service, config, {
      ...opts,
      onStep: (runId, index, total, key, reused) => {
        current = runId;
        label = `[${index + 1}/${total}] ${key}`;
        line.log(`${label}: run ${runId}${reused ? ' (reused)' : ''}`);
      },
    });
    line.end();
    return run;
  } finally {
    process.off('SIGINT', onSigint);
    off();
  }
}

export function reportReproduceRun(run: RunRecord, json: boolean, out?: string): number {
  const s = (run.summary ?? {}) as {
    report?: string;
    claims?: { claim: string; verdict: ClaimVerdict }[];
    reproduction?: unknown;
  };
  if (run.status === 'completed') {
    for (const c of s.claims ?? []) say(`${VERDICT_MARK[c.verdict]} ${c.verdict.padEnd(13)} ${c.claim}`);
    say(`report: ${s.report}${out ? ` (copied to ${out})` : ''}`);
  } else say(`reproduce ${run.id} ${run.status}${run.error ? `: ${run.error}` : ''}`);
  if (json)
    printJson({
      run_id: run.id,
      status: run.status,
      wall_seconds: run.wallSeconds,
      error: run.error,
      report: s.report,
      claims: s.claims,
      reproduction: s.reproduction,
    });
  return run.status === 'completed' ? 0 : run.status === 'cancelled' ? 130 : 1;
}
