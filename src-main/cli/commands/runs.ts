/** scalar runs / resume / export: the run table, resuming interrupted runs, exporting trained models. */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { APP_VERSION, toRunSummary } from '../../api/service.ts';
import { CONFIG_FILE, MODEL_FILE } from '../../engine/io/lmCheckpoint.ts';
import { TRAINING_RECORD_FILE } from '../../resources.ts';
import { runArtifactsDir } from '../../store/index.ts';
import { GLOBAL_OPTIONS, openService, printJson, runInForeground, say, UsageError } from '../context.ts';
import { reportLmRun } from './trainLm.ts';
import { reportSaeRun } from './trainSae.ts';
import { reportScalarRun } from './evalScalar.ts';
import { reportPipelineRun, runPipelineInForeground } from './pipeline.ts';
import { reportReproduceRun, runReproduceInForeground } from './reproduce.ts';
import { ReproduceConfigSchema } from '../../../src-shared/reproduce.ts';
import { PipelineConfigSchema } from '../../../src-shared/pipeline.ts';
import { isWithoutWeights, withoutWeightsMessage } from '../../../src-shared/bundle.ts';

export const runsUsage = `scalar runs [--kind lm|sae|scalar|pipeline] [--status S] [--search TEXT] [--limit N] [--json]`;
export const resumeUsage = `scalar resume RUN_ID [--accept-changed-inputs] [--json]   continue a failed, cancelled or interrupted run from its last checkpoint
  A run continues only on the files it started with (corpus, model, SAEs: checked by sha256); with
  --accept-changed-inputs it continues on changed files and records the identities they replaced.`;
export const exportUsage = `scalar export RUN_ID --out DIR [--json]   write a trained LM's best checkpoint + training record`;

export async function runsCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...GLOBAL_OPTIONS,
      kind: { type: 'string' },
      status: { type: 'string' },
      search: { type: 'string' },
      limit: { type: 'string' },
    },
  });
  if (values.help) return (say(runsUsage), 0);
  const service = openService(values);
  try {
    const runs = await service.call('runs.list', {
      kind: values.kind,
      status: values.status as never,
      search: values.search,
      limit: values.limit ? Number(values.limit) : undefined,
    });
    if (values.json) {
      printJson(runs);
    } else if (runs.length === 0) {
      say(`no runs in ${service.store.dataDir}`);
    } else {
      for (const r of runs) {
        const s = (r.summary ?? {}) as Record<string, unknown>;
        const loss = typeof s.valLoss === 'number' ? `val ${s.valLoss.toFixed(4)}` : '';
        process.stdout.write(
          `${r.id.padEnd(28)} ${r.kind.padEnd(8)} ${r.status.padEnd(11)} ${(r.backend ?? '').padEnd(10)} ${r.name.padEnd(24)} ${loss}\n`,
        );
      }
    }
    return 0;
  } finally {
    await service.close();
  }
}

export async function resumeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...GLOBAL_OPTIONS, 'accept-changed-inputs': { type: 'boolean', default: false } },
    allowPositionals: true,
  });
  if (values.help) return (say(resumeUsage), 0);
  const id = positionals[0];
  if (!id) throw new UsageError(resumeUsage);
  const service = openService(values);
  try {
    const existing = service.store.requireRun(id);
    if (existing.kind === 'reproduce')
      return reportReproduceRun(
        await runReproduceInForeground(service, ReproduceConfigSchema.parse(existing.config), {
          resume: id,
          acceptChangedInputs: values['accept-changed-inputs'],
        }),
        values.json ?? false,
      );
    if (existing.kind === 'pipeline') {
      const config = PipelineConfigSchema.parse(existing.config);
      return reportPipelineRun(
        await runPipelineInForeground(service, config, {
          resume: id,
          acceptChangedInputs: values['accept-changed-inputs'],
        }),
        values.json ?? false,
      );
    }
    const run = await runInForeground(service, {
      resume: id,
      acceptChangedInputs: values['accept-changed-inputs'],
    });
    if (run.kind === 'lm') return reportLmRun(run, values.json ?? false);
    if (run.kind === 'sae') return reportSaeRun(run, values.json ?? false);
    if (run.kind === 'scalar') return reportScalarRun(run, values.json ?? false);
    if (values.json) printJson(toRunSummary(run));
    return run.status === 'completed' ? 0 : 1;
  } finally {
    await service.close();
  }
}

export async function exportCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...GLOBAL_OPTIONS, out: { type: 'string' } },
    allowPositionals: true,
  });
  if (values.help) return (say(exportUsage), 0);
  const id = positionals[0];
  if (!id || !values.out) throw new UsageError(exportUsage);
  const service = openService(values);
  try {
    const run = service.store.requireRun(id);
    if (run.kind !== 'lm' || run.status !== 'completed')
      throw new UsageError(`run ${id} is a ${run.status} ${run.kind} run; export needs a completed LM run`);
    if (isWithoutWeights(run))
      throw new UsageError(withoutWeightsMessage(run, 'there is no model folder to export'));
    const best = path.join(runArtifactsDir(service.store.dataDir, id), 'best');
    for (const artifact of service.store.listArtifacts(id, 'best'))
      await service.store.verifyArtifact({ runId: id, kind: artifact.kind, name: artifact.name });
    const out = path.resolve(values.out);
    fs.mkdirSync(out, { recursive: true });
    for (const f of [MODEL_FILE, CONFIG_FILE]) fs.copyFileSync(path.join(best, f), path.join(out, f));
    const s = run.summary as Record<string, unknown>;
    const spec = run.config as { config: Record<string, unknown> };
    const record = {
      run_id: run.id,
      app_version: APP_VERSION,
      created_at: run.finishedAt,
      config: spec.config,
      seed: run.seed,
      corpus: s.corpus,
      steps: s.steps,
      params: s.params,
      train_loss: s.trainLoss,
      val_loss: s.valLoss,
      val_loss_unit: 'nats per character (mean cross-entropy on the fixed validation windows)',
      best_step: s.bestStep,
      final_val_loss: s.finalValLoss,
      backend: run.backend,
      wall_seconds: run.wallSeconds,
      tokens_per_second: s.tokensPerSecond,
      resumed_from_step: s.resumedFrom ?? 0,
      // Every file it was trained on, as pinned (and any identity a resume accepted to replace).
      inputs: service.store.runInputs(id),
    };
    fs.writeFileSync(path.join(out, TRAINING_RECORD_FILE), JSON.stringify(record, null, 2) + '\n');
    say(`exported ${id} to ${out}`);
    if (values.json) printJson({ run_id: id, out, files: [MODEL_FILE, CONFIG_FILE, TRAINING_RECORD_FILE] });
    return 0;
  } finally {
    await service.close();
  }
}
