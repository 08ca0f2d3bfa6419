/** scalar eval: the SCALAR benchmark on a trained SAE run (SPEC §4). */
import { parseArgs } from 'node:util';
import { SCALAR_PRESETS, ScalarEvalConfigSchema, type ScalarPresetName } from '../../../src-shared/scalar.ts';
import type { RunRecord } from '../../store/index.ts';
import { GLOBAL_OPTIONS, openService, printJson, runInForeground, say, UsageError } from '../context.ts';

export const usage = `scalar eval --sae SAE_RUN_ID [options]
  --preset ${Object.keys(SCALAR_PRESETS).join('|')}       paper: 576 attribution × 50 evaluation windows (default paper)
  --pairs 0,1,...             pairs to measure (default all)
  --ranking ig|random         edge ranking (default ig: integrated gradients)
  --scaling reference|textbook  IG scaling (default reference)
  --steps S                   integration points (default 4)
  --grid paper|full           edge budgets up to 2^18, or up to F0·F1
  --target model|circuit      KL against the full model (default) or the full circuit
  --relu                      ReLU before the subcircuit's TopK
  --attribution-seqs N  --eval-seqs N  --bootstrap N  --seed S  --corpus builtin:brown|PATH
  --data-dir D  --backend B  --json`;

export async function evalScalarCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...GLOBAL_OPTIONS,
      sae: { type: 'string' },
      preset: { type: 'string', default: 'paper' },
      pairs: { type: 'string' },
      ranking: { type: 'string' },
      scaling: { type: 'string' },
      steps: { type: 'string' },
      grid: { type: 'string' },
      target: { type: 'string' },
      relu: { type: 'boolean' },
      'attribution-seqs': { type: 'string' },
      'eval-seqs': { type: 'string' },
      bootstrap: { type: 'string' },
      seed: { type: 'string' },
      corpus: { type: 'string' },
      name: { type: 'string' },
    },
  });
  if (values.help) return (say(usage), 0);
  if (!values.sae) throw new UsageError('--sae needs an SAE run id (see scalar runs --kind sae)');
  if (!(values.preset in SCALAR_PRESETS)) throw new UsageError(`unknown preset '${values.preset}'`);
  const int = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const given = Object.fromEntries(
    Object.entries({
      sae: values.sae,
      pairs: values.pairs?.split(',').map(Number),
      ranking: values.ranking,
      scaling: values.scaling,
      steps: int(values.steps),
      grid: values.grid,
      target: values.target,
      relu: values.relu,
      attributionSeqs: int(values['attribution-seqs']),
      evalSeqs: int(values['eval-seqs']),
      bootstrap: int(values.bootstrap),
      seed: int(values.seed),
      corpus: values.corpus,
    }).filter(([, v]) => v !== undefined),
  );
  const parsed = ScalarEvalConfigSchema.safeParse({
    ...SCALAR_PRESETS[values.preset as ScalarPresetName],
    preset: values.preset,
    ...given,
  });
  if (!parsed.success)
    throw new UsageError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  const service = openService(values);
  try {
    const run = await runInForeground(service, {
      spec: { kind: 'scalar', config: parsed.data },
      name: values.name,
    });
    return reportScalarRun(run, values.json ?? false);
  } finally {
    await service.close();
  }
}

interface PairMetrics {
  pair: number;
  label: string;
  edges: number;
  scalar_auc_abs: number;
  scalar_auc_rel: number;
  scalar_auc_log2: number;
  scalar_auc_abs_lo: number;
  scalar_auc_abs_hi: number;
  full_circuit_kl: number;
}

export function reportScalarRun(run: RunRecord, json: boolean): number {
  const s = (run.summary ?? {}) as {
    eval_config?: Record<string, unknown>;
    eval_result_metrics?: { pairs: PairMetrics[] };
  };
  const pairs = s.eval_result_metrics?.pairs ?? [];
  const cfg = s.eval_config ?? {};
  const out = {
    run_id: run.id,
    status: run.status,
    backend: run.backend,
    sae: cfg.sae ?? null,
    scalar: pairs.map((p) => ({
      setup: cfg.setup,
      pair: p.pair,
      arch: cfg.arch,
      auc_abs: p.scalar_auc_abs,
      auc_rel: p.scalar_auc_rel,
      auc_log2: p.scalar_auc_log2,
      auc_abs_ci: [p.scalar_auc_abs_lo, p.scalar_auc_abs_hi],
      full_circuit_kl: p.full_circuit_kl,
    })),
    eval_type_id: 'scalar',
    eval_config: cfg,
    wall_seconds: run.wallSeconds,
    error: run.error,
  };
  if (run.status === 'completed') {
    for (const p of out.scalar) {
      say(
        `${String(p.setup)} pair ${p.pair} (${String(p.arch)}): SCALAR abs ${p.auc_abs.toFixed(2)} [${p.auc_abs_ci.map((v) => v.toFixed(2)).join(', ')}]  rel ${p.auc_rel.toExponential(3)}  log2 ${p.auc_log2.toFixed(3)}  KL(full circuit) ${p.full_circuit_kl.toFixed(4)}`,
      );
    }
  } else {
    say(`run ${run.id} ${run.status}${run.error ? `: ${run.error}` : ''}`);
  }
  if (json) printJson(out);
  return run.status === 'completed' ? 0 : run.status === 'cancelled' ? 130 : 1;
}
