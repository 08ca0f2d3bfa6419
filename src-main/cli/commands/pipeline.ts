/** scalar pipeline: LM → SAEs → SCALAR for the paper's comparisons → report (Tables 1–3, 7–8, figures). */
import { parseArgs } from 'node:util';
import { PipelineConfigSchema, type PipelineConfig } from '../../../src-shared/pipeline.ts';
import type { ScalarService } from '../../api/service.ts';
import { defaultLmRef } from '../../jobs/lmRef.ts';
import { runPipeline } from '../../jobs/pipeline.ts';
import type { RunRecord } from '../../store/index.ts';
import { GLOBAL_OPTIONS, openService, printJson, say, UsageError } from '../context.ts';
import { ProgressLine } from '../terminal.ts';

export const usage = `scalar pipeline --preset quick|paper-toy [options]
  --lm RUN_ID|resources:NAME|PATH   language model (default: the bundled model)
  --seeds N        SAE seeds per architecture (default 1; several give mean ± sd)
  --seed S         first seed (default 0)
  --data-dir D  --backend B  --json`;

export async function pipelineCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...GLOBAL_OPTIONS,
      preset: { type: 'string', default: 'quick' },
      lm: { type: 'string' },
      seeds: { type: 'string' },
      seed: { type: 'string' },
      name: { type: 'string' },
    },
  });
  if (values.help) return (say(usage), 0);
  const lm = values.lm ?? defaultLmRef();
  if (!lm) throw new UsageError('no --lm given and no bundled model found under resources/models');
  const parsed = PipelineConfigSchema.safeParse({
    preset: values.preset,
    lm,
    seeds: values.seeds ? Number(values.seeds) : undefined,
    seed: values.seed ? Number(values.seed) : undefined,
  });
  if (!parsed.success)
    throw new UsageError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  const service = openService(values);
  try {
    const run = await runPipelineInForeground(service, parsed.data, { name: values.name });
    return reportPipelineRun(run, values.json ?? false);
  } finally {
    await service.close();
  }
}

/** Runs (or resumes) a pipeline with a progress line per step; Ctrl-C cancels the current step. */
export async function runPipelineInForeground(
  service: ScalarService,
  config: PipelineConfig,
  opts: { resume?: string; name?: string },
): Promise<RunRecord> {
  const line = new ProgressLine();
  let current = '';
  let label = '';
  const off = service.onEvent((e) => {
    if (e.runId !== current) return;
    if (e.type === 'progress')
      line.update({ ...e.progress, phase: `${label} ${e.progress.phase ?? ''}`.trim() });
  });
  const onSigint = () => {
    line.log(
      'cancelling the current step (completed steps are kept; resume with scalar resume <pipeline-run>)...',
    );
    if (current) service.jobs.cancel(current);
  };
  process.on('SIGINT', onSigint);
  try {
    const run = await runPipeline(service, config, {
      ...opts,
      onStep: (runId, index, total, key) => {
        current = runId;
        label = `[${index + 1}/${total}] ${key}`;
        line.log(`${label}: run ${runId}`);
      },
    });
    line.end();
    return run;
  } finally {
    process.off('SIGINT', onSigint);
    off();
  }
}

export function reportPipelineRun(run: RunRecord, json: boolean): number {
  const s = (run.summary ?? {}) as {
    report?: string;
    comparisons?: {
      setup: string;
      pair: number;
      arch: string;
      reduction_abs_pct: number;
      reduction_rel_pct: number;
    }[];
  };
  if (run.status === 'completed') {
    for (const c of s.comparisons ?? [])
      say(
        `${c.setup} pair ${c.pair}: ${c.arch} vs topk  absolute ${c.reduction_abs_pct.toFixed(2)} %  relative ${c.reduction_rel_pct.toFixed(2)} %`,
      );
    say(`report: ${s.report}`);
  } else {
    say(`pipeline ${run.id} ${run.status}${run.error ? `: ${run.error}` : ''}`);
  }
  if (json)
    printJson({ run_id: run.id, status: run.status, wall_seconds: run.wallSeconds, error: run.error, ...s });
  return run.status === 'completed' ? 0 : run.status === 'cancelled' ? 130 : 1;
}
