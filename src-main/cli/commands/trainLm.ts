/** scalar train-lm: train a toy GPT on the built-in corpus or a text file. */
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  LM_PRESETS,
  LM_PRESET_NAMES,
  LmTrainConfigSchema,
  type LmPresetName,
} from '../../../src-shared/lm.ts';
import type { RunRecord } from '../../store/index.ts';
import { GLOBAL_OPTIONS, openService, printJson, runInForeground, say, UsageError } from '../context.ts';

export const usage = `scalar train-lm --preset ${LM_PRESET_NAMES.join('|')} [options]
  --corpus builtin:brown|PATH   training text (default builtin:brown)
  --steps N                     training steps (default: the preset's schedule)
  --seed S                      seed for initialisation and batch order (default 0)
  --batch-size B  --eval-every N  --lr LR  --name NAME
  --data-dir D  --backend tensorflow|wasm|cpu  --json`;

const int = (v: string | undefined, flag: string) => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} needs a non-negative integer, got '${v}'`);
  return n;
};

export async function trainLmCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...GLOBAL_OPTIONS,
      preset: { type: 'string', default: 'quick' },
      corpus: { type: 'string', default: 'builtin:brown' },
      steps: { type: 'string' },
      seed: { type: 'string' },
      'batch-size': { type: 'string' },
      'eval-every': { type: 'string' },
      lr: { type: 'string' },
      name: { type: 'string' },
    },
  });
  if (values.help) return (say(usage), 0);
  if (!(values.preset in LM_PRESETS))
    throw new UsageError(`unknown preset '${values.preset}'; choose ${LM_PRESET_NAMES.join(', ')}`);
  const preset = LM_PRESETS[values.preset as LmPresetName];
  const steps = int(values.steps, '--steps') ?? preset.schedule.steps;
  const schedule = {
    ...preset.schedule,
    steps,
    // A shortened schedule keeps the preset's warmup fraction.
    warmupSteps: values.steps
      ? Math.min(preset.schedule.warmupSteps, Math.round(steps * 0.1))
      : preset.schedule.warmupSteps,
    evalEvery:
      int(values['eval-every'], '--eval-every') ??
      Math.min(preset.schedule.evalEvery, Math.max(1, Math.round(steps / 10))),
    ...(values['batch-size'] ? { batchSize: int(values['batch-size'], '--batch-size') } : {}),
    ...(values.lr ? { lr: Number(values.lr) } : {}),
  };
  const config = LmTrainConfigSchema.parse({
    preset: values.preset,
    model: preset.model,
    schedule,
    corpus: values.corpus,
    seed: int(values.seed, '--seed') ?? 0,
  });
  const service = openService(values);
  try {
    const run = await runInForeground(service, {
      spec: { kind: 'train-lm', config },
      name: values.name ?? `${values.preset} s${config.seed}`,
    });
    return reportLmRun(run, values.json ?? false);
  } finally {
    await service.close();
  }
}

/** The result line of train-lm and of resuming an LM run. */
export function reportLmRun(run: RunRecord, json: boolean): number {
  const s = (run.summary ?? {}) as Record<string, number | string>;
  const out = {
    run_id: run.id,
    status: run.status,
    backend: run.backend,
    params: s.params ?? null,
    steps: s.steps ?? null,
    train_loss: s.trainLoss ?? null,
    val_loss: s.valLoss ?? null,
    best_step: s.bestStep ?? null,
    final_val_loss: s.finalValLoss ?? null,
    checkpoint: s.checkpoint ? path.resolve(String(s.checkpoint)) : null,
    tokens_per_second: s.tokensPerSecond ?? null,
    threads: s.threads ?? null,
    wall_seconds: run.wallSeconds,
    resumed_from: s.resumedFrom ?? null,
    error: run.error,
  };
  if (run.status === 'completed') {
    say(
      `run ${run.id}: val loss ${Number(out.val_loss).toFixed(4)} nats/char (best step ${out.best_step}), ${out.steps} steps, backend ${out.backend}`,
    );
    say(`checkpoint: ${out.checkpoint}`);
  } else {
    say(`run ${run.id} ${run.status}${run.error ? `: ${run.error}` : ''}`);
    if (run.status !== 'failed' || /killed|exited/.test(run.error ?? ''))
      say(`resume it with: scalar resume ${run.id}`);
  }
  if (json) printJson(out);
  return run.status === 'completed' ? 0 : run.status === 'cancelled' ? 130 : 1;
}
