/** scalar train-lm: train a toy GPT on the built-in corpus or a text file. */
import path from 'node:path';
import { issuesForCli, lmJobFromOptions } from '../../../src-shared/jobBuilders.ts';
import { evalProtocolOf, LM_VAL_TOKENS } from '../../../src-shared/evalProtocol.ts';
import { LM_PRESET_NAMES } from '../../../src-shared/lm.ts';
import type { RunRecord } from '../../store/index.ts';
import { trainLmArgs } from '../args.ts';
import { openService, printJson, runInForeground, say, UsageError } from '../context.ts';
import { computeOf, deviceJson } from '../../../src-shared/device.ts';

export const usage = `scalar train-lm --preset ${LM_PRESET_NAMES.join('|')} [options]
  --corpus builtin:brown|PATH   training text (default builtin:brown)
  --steps N                     training steps (default: the preset's schedule). A shorter --steps also
                                shortens the warmup to min(preset warmup, 10 % of N) and the evaluation
                                interval to about N/10 steps, unless --warmup / --eval-every are given
  --warmup N                    linear warmup steps (default: the preset's, or the rule above)
  --eval-every N                steps between validation evaluations (default: about 10 evaluations,
                                at most the preset's interval)
  --val-tokens N|all            validation tokens scored at each evaluation, in whole windows spread over
                                the validation split; all = every token of the split (default: all, quick
                                preset ${LM_VAL_TOKENS.quick}). The set does not depend on --batch-size
  --seed S                      seed for initialisation and batch order (default 0)
  --batch-size B  --lr LR  --name NAME
  --data-dir D  --backend tensorflow-gpu|webgpu|wasm|tensorflow-cpu|cpu  --json
The schedule actually used is printed before training starts and stored with the run.`;

export async function trainLmCommand(argv: string[]): Promise<number> {
  const { flags, options } = trainLmArgs(argv);
  if (flags.help) return (say(usage), 0);
  // Options → spec exactly as the New run form does it (a shortened schedule keeps the preset's warmup fraction).
  const built = lmJobFromOptions(options);
  if (!built.ok) throw new UsageError(issuesForCli(built.issues));
  const service = openService(flags);
  try {
    const run = await runInForeground(service, {
      spec: built.spec,
      name: built.name,
      intro: `schedule: ${built.schedule}`,
    });
    return reportLmRun(run, flags.json ?? false);
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
    // What computed (GPU adapter: vendor, architecture, driver, API; or the CPU line).
    ...deviceJson(computeOf(run.backend, run.summary)),
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
    schedule: s.schedule ?? null,
    // Runs made before the fixed protocol stored none: their losses came from the legacy batches.
    evaluation: s.evaluation ?? evalProtocolOf((run.config as { config?: unknown } | null)?.config),
    error: run.error,
  };
  if (run.status === 'completed') {
    say(
      `run ${run.id}: val loss ${Number(out.val_loss).toFixed(4)} nats/char (best step ${out.best_step}), ${out.steps} steps, backend ${out.backend}${out.device ? ` on ${out.device}` : ''}`,
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
