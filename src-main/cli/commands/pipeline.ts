/** scalar pipeline: LM → SAEs → SCALAR for the paper's comparisons → report (Tables 1–3, 7–8, figures). */
import { preflightPipeline } from '../../jobs/preflight.ts';
import { issuesForCli, pipelineJobFromOptions } from '../../../src-shared/jobBuilders.ts';
import type { PipelineConfig } from '../../../src-shared/pipeline.ts';
import type { ScalarService } from '../../api/service.ts';
import { defaultLmRef } from '../../jobs/lmRef.ts';
import { runPipeline } from '../../jobs/pipeline.ts';
import type { RunRecord } from '../../store/index.ts';
import { pipelineArgs } from '../args.ts';
import { openService, printJson, say, UsageError } from '../context.ts';
import { ProgressLine } from '../terminal.ts';

export const usage = `scalar pipeline --preset quick|paper-toy [options]
  --lm RUN_ID|resources:NAME|PATH   language model (default: the bundled model)
  --seeds N        SAE seeds per architecture (default 1; several give mean ± sd)
  --seed S         first seed (default 0)
  --corpus builtin:brown|PATH   text for the SAEs and SCALAR (default builtin:brown)
  --name NAME  --data-dir D  --backend B  --json`;

export async function pipelineCommand(argv: string[]): Promise<number> {
  const { flags, options } = pipelineArgs(argv);
  if (flags.help) return (say(usage), 0);
  const lm = options.lm ?? defaultLmRef();
  if (!lm) throw new UsageError('no --lm given and no bundled model found under resources/models');
  const built = pipelineJobFromOptions({ ...options, lm });
  if (!built.ok) throw new UsageError(issuesForCli(built.issues));
  const service = openService(flags);
  try {
    preflightPipeline(built.spec.config, service.store, { backend: flags.backend }); // before a run exists
    const run = await runPipelineInForeground(service, built.spec.config, { name: built.name });
    return reportPipelineRun(run, flags.json ?? false);
  } finally {
    await service.close();
  }
}

/** Runs (or resumes) a pipeline with a progress line per step; Ctrl-C cancels the current step. */
export async function runPipelineInForeground(
  service: ScalarService,
  config: PipelineConfig,
  opts: { resume?: string; name?: string; acceptChangedInputs?: boolean },
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
