/** scalar train-sae: train TopK / Staircase (and variants) / Jacobian SAEs on a frozen LM. */
import { parseArgs } from 'node:util';
import {
  SAE_ARCHS,
  SAE_PRESETS,
  SAE_SETUPS,
  SaeTrainConfigSchema,
  type SaePresetName,
} from '../../../src-shared/sae.ts';
import { defaultLmRef } from '../../jobs/lmRef.ts';
import type { RunRecord } from '../../store/index.ts';
import { GLOBAL_OPTIONS, openService, printJson, runInForeground, say, UsageError } from '../context.ts';

export const usage = `scalar train-sae --arch ${SAE_ARCHS.join('|')} --setup ${SAE_SETUPS.join('|')} [options]
  --lm RUN_ID|resources:NAME|PATH   frozen language model (default: the bundled model)
  --preset ${Object.keys(SAE_PRESETS).join('|')}               schedule (default quick)
  --width F        latents per SAE, or the staircase chunk n (default 512 = ×8 on the toy model)
  --k K            TopK sparsity (default 10)
  --lambda L  --lambda-norm mean|sum   JSAE penalty weight and convention (default 16, mean)
  --steps N  --seed S  --batch-size B  --seq-len T (default: the LM context)  --eval-every N  --corpus builtin:brown|PATH  --name NAME
  --data-dir D  --backend tensorflow|wasm|cpu  --json`;

const num = (v: string | undefined, flag: string, integer = true) => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n)))
    throw new UsageError(`${flag} needs a non-negative ${integer ? 'integer' : 'number'}, got '${v}'`);
  return n;
};

export async function trainSaeCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...GLOBAL_OPTIONS,
      lm: { type: 'string' },
      arch: { type: 'string' },
      setup: { type: 'string' },
      preset: { type: 'string', default: 'quick' },
      width: { type: 'string' },
      k: { type: 'string' },
      lambda: { type: 'string' },
      'lambda-norm': { type: 'string' },
      steps: { type: 'string' },
      seed: { type: 'string' },
      'batch-size': { type: 'string' },
      'seq-len': { type: 'string' },
      'eval-every': { type: 'string' },
      corpus: { type: 'string', default: 'builtin:brown' },
      name: { type: 'string' },
    },
  });
  if (values.help) return (say(usage), 0);
  if (!values.arch || !(SAE_ARCHS as readonly string[]).includes(values.arch))
    throw new UsageError(`--arch must be one of ${SAE_ARCHS.join(', ')}`);
  if (!values.setup || !(SAE_SETUPS as readonly string[]).includes(values.setup))
    throw new UsageError(`--setup must be one of ${SAE_SETUPS.join(', ')}`);
  if (!(values.preset in SAE_PRESETS))
    throw new UsageError(`unknown preset '${values.preset}'; choose ${Object.keys(SAE_PRESETS).join(', ')}`);
  const lm = values.lm ?? defaultLmRef();
  if (!lm) throw new UsageError('no --lm given and no bundled model found under resources/models');
  const preset = SAE_PRESETS[values.preset as SaePresetName];
  const steps = num(values.steps, '--steps') ?? preset.steps;
  const schedule = {
    ...preset,
    steps,
    warmupSteps: values.steps ? Math.min(preset.warmupSteps, Math.round(steps * 0.1)) : preset.warmupSteps,
    evalEvery:
      num(values['eval-every'], '--eval-every') ??
      Math.min(preset.evalEvery, Math.max(1, Math.round(steps / 6))),
    ...(values['batch-size'] ? { batchSize: num(values['batch-size'], '--batch-size') } : {}),
    ...(values['seq-len'] ? { seqLen: num(values['seq-len'], '--seq-len') } : {}),
  };
  const parsed = SaeTrainConfigSchema.safeParse({
    preset: values.preset,
    lm,
    arch: values.arch,
    setup: values.setup,
    width: num(values.width, '--width'),
    k: num(values.k, '--k'),
    lambda: num(values.lambda, '--lambda', false),
    lambdaNorm: values['lambda-norm'],
    schedule,
    corpus: values.corpus,
    seed: num(values.seed, '--seed') ?? 0,
  });
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => i.message).join('; '));
  const config = parsed.data;
  const service = openService(values);
  try {
    const run = await runInForeground(service, {
      spec: { kind: 'train-sae', config },
      name: values.name ?? `${config.arch} ${config.setup} s${config.seed}`,
    });
    return reportSaeRun(run, values.json ?? false);
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
    wall_seconds: run.wallSeconds,
    error: run.error,
  };
  if (run.status === 'completed') {
    for (const x of out.saes) {
      say(
        `${x.hook.padEnd(30)} F ${String(x.d_sae).padStart(5)}  l0 ${x.l0.toFixed(2)}  EV ${x.explained_variance.toFixed(4)}  ΔCE ${x.ce_loss_increase.toFixed(4)}  ${x.frac_alive === null ? '' : `alive ${(100 * x.frac_alive).toFixed(1)}%`}`,
      );
    }
    say(
      `compound ΔCE ${Number(out.compound_ce_loss_increase).toFixed(4)}  (clean CE ${Number(out.clean_ce).toFixed(4)}), backend ${out.backend}; SAELens folders in ${out.export_dir}`,
    );
  } else {
    say(`run ${run.id} ${run.status}${run.error ? `: ${run.error}` : ''}`);
  }
  if (json) printJson(out);
  return run.status === 'completed' ? 0 : run.status === 'cancelled' ? 130 : 1;
}
