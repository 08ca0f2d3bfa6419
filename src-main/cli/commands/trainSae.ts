/** scalar train-sae: train TopK / Staircase (and variants) / Jacobian SAEs on a frozen LM. */
import { issuesForCli, saeJobFromOptions } from '../../../src-shared/jobBuilders.ts';
import { evalProtocolOf, SAE_EVAL_TOKENS } from '../../../src-shared/evalProtocol.ts';
import { SAE_PRESETS, SAE_SETUPS, TRAINABLE_ARCHS } from '../../../src-shared/sae.ts';
import { defaultLmRef } from '../../jobs/lmRef.ts';
import type { RunRecord } from '../../store/index.ts';
import { trainSaeArgs } from '../args.ts';
import { openService, printJson, runInForeground, say, UsageError } from '../context.ts';
import { computeOf, deviceJson } from '../../../src-shared/device.ts';

export const usage = `scalar train-sae --arch ${TRAINABLE_ARCHS.join('|')} --setup ${SAE_SETUPS.join('|')} [options]
  --lm RUN_ID|resources:NAME|PATH   frozen language model (default: the bundled model)
  --preset ${Object.keys(SAE_PRESETS).join('|')}               schedule (default quick)
  --width F        latents per SAE, or the staircase chunk n (default 512 = ×8 on the toy model)
  --k K            TopK sparsity (default 10)
  --lambda L  --lambda-norm mean|sum   JSAE penalty weight and convention (default 16, mean)
  --steps N        training steps (default: the preset's). A shorter --steps also shortens the warmup to
                   min(preset warmup, 10 % of N) and the evaluation interval to about N/6 steps, unless
                   --warmup / --eval-every are given
  --warmup N       linear warmup steps (default: the preset's, or the rule above)
  --eval-every N   steps between evaluations (default: about 6 evaluations, at most the preset's interval)
  --eval-tokens N  validation tokens the SAE metrics and ΔCE are measured on, in whole windows spread over the
                   validation split (default: quick ${SAE_EVAL_TOKENS.quick}, paper ${SAE_EVAL_TOKENS.paper}); independent of --batch-size
  --seed S  --batch-size B  --seq-len T (default: the LM context)  --corpus builtin:brown|PATH  --name NAME
  --data-dir D  --backend tensorflow-gpu|webgpu|wasm|tensorflow-cpu|cpu  --json
The schedule actually used is printed before training starts and stored with the run.`;

export async function trainSaeCommand(argv: string[]): Promise<number> {
  const { flags, options } = trainSaeArgs(argv);
  if (flags.help) return (say(usage), 0);
  const lm = options.lm ?? defaultLmRef();
  if (!lm) throw new UsageError('no --lm given and no bundled model found under resources/models');
  // Options → spec exactly as the New run form does it (the shared schema refuses impossible arch × setup pairs).
  const built = saeJobFromOptions({ ...options, lm });
  if (!built.ok) throw new UsageError(issuesForCli(built.issues));
  const service = openService(flags);
  try {
    const run = await runInForeground(service, {
      spec: built.spec,
      name: built.name,
      intro: `schedule: ${built.schedule}`,
    });
    return reportSaeRun(run, flags.json ?? false);
  } finally {
    await service.close();
  }
}

interface SaeSummary {
  hook: string;
  d_sae: number;
  l0: number;
  explained_variance: number;
  ce_loss_increase: number;
  kl_div: number;
  mse: number;
  /** Null for imported SAEs (no training to count firing over). */
  frac_alive: number | null;
  l0_per_chunk: number[] | null;
}

export function reportSaeRun(run: RunRecord, json: boolean): number {
  const s = (run.summary ?? {}) as Record<string, unknown> & { saes?: SaeSummary[] };
  const saes = s.saes ?? [];
  const staircase = saes.some((x) => x.l0_per_chunk);
  const out = {
    run_id: run.id,
    status: run.status,
    backend: run.backend,
    // What computed (GPU adapter: vendor, architecture, driver, API; or the CPU line).
    ...deviceJson(computeOf(run.backend, run.summary)),
    arch: s.arch ?? null,
    setup: s.setup ?? null,
    lm: s.lm ?? null,
    steps: s.steps ?? null,
    params: s.params ?? null,
    tokens_per_second: s.tokensPerSecond ?? null,
    saes: saes.map((x) => ({
      hook: x.hook,
      d_sae: x.d_sae,
      l0: x.l0,
      explained_variance: x.explained_variance,
      ce_loss_increase: x.ce_loss_increase,
      kl_div: x.kl_div,
      mse: x.mse,
      frac_alive: x.frac_alive,
      ...(x.l0_per_chunk ? { l0_per_chunk: x.l0_per_chunk } : {}),
    })),
    compound_ce_loss_increase: s.compoundCeLossIncrease ?? null,
    compound_kl_div: s.compoundKlDiv ?? null,
    clean_ce: s.cleanCe ?? null,
    ...(staircase ? { l0_per_chunk: saes.map((x) => x.l0_per_chunk ?? []) } : {}),
    ...(s.jacobianL1 !== null && s.jacobianL1 !== undefined
      ? { jacobian_l1: s.jacobianL1, lambda_norm: s.lambdaNorm }
      : {}),
    ...(s.importedFrom ? { imported_from: s.importedFrom } : {}),
    export_dir: s.exportDir ?? null,
    schedule: s.schedule ?? null,
    // Runs made before the fixed protocol stored none: their metrics came from the legacy batches.
    evaluation: s.evaluation ?? evalProtocolOf((run.config as { config?: unknown } | null)?.config),
    wall_seconds: run.wallSeconds,
    error: run.error,
  };
  if (run.status === 'completed') {
    for (const x of out.saes) {
      say(
        `${x.hook.padEnd(30)} F ${String(x.d_sae).padStart(5)}  l0 ${fixed(x.l0, 2)}  EV ${fixed(x.explained_variance, 4)}  ΔCE ${fixed(x.ce_loss_increase, 4)}  ${x.frac_alive === null ? '' : `alive ${fixed(100 * x.frac_alive, 1)}%`}`,
      );
    }
    say(
      `compound ΔCE ${fixed(out.compound_ce_loss_increase, 4)}  (clean CE ${fixed(out.clean_ce, 4)}), backend ${out.backend}${out.device ? ` on ${out.device}` : ''}; SAELens folders in ${out.export_dir}`,
    );
  } else {
    say(`run ${run.id} ${run.status}${run.error ? `: ${run.error}` : ''}`);
  }
  if (json) printJson(out);
  return run.status === 'completed' ? 0 : run.status === 'cancelled' ? 130 : 1;
}

/** A number for a result line; a metric that is missing (null: NaN in the store) reads "n/a", never a crash. */
export function fixed(v: unknown, digits: number): string {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : 'n/a';
}
