/** scalar eval: the SCALAR benchmark on a trained SAE run (SPEC §4). */
import { issuesForCli, scalarJobFromOptions } from '../../../src-shared/jobBuilders.ts';
import { SCALAR_PRESETS } from '../../../src-shared/scalar.ts';
import type { RunRecord } from '../../store/index.ts';
import { evalScalarArgs } from '../args.ts';
import { openService, printJson, runInForeground, say, UsageError } from '../context.ts';
import { fixed } from './trainSae.ts';
import { computeOf, deviceJson } from '../../../src-shared/device.ts';

export const usage = `scalar eval --sae SAE_RUN_ID [options]
  --preset ${Object.keys(SCALAR_PRESETS).join('|')}
                              paper: 576 attribution × 50 evaluation windows (default); gpt2-paper: GPT-2
                              ffblock pairs 1, 6, 11, budgets 10^0…10^6, 3 + 3 windows of 128 tokens
  --pairs 0,1,...             pairs to measure (default all)
  --ranking ig|random         edge ranking (default ig: integrated gradients)
  --scaling reference|textbook  IG scaling (default reference)
  --steps S                   integration points α_s = s/(S−1) (default 4; the paper used 5)
  --single-step-alpha 0|1     the one point when --steps 1, where s/(S−1) is undefined: 1 = the gradient at
                              the SAE codes themselves (default), 0 = at the zero baseline (the reference
                              code's linspace(0, 1, 1)); recorded with the run
  --grid paper|gpt2-paper|full  edge budgets up to 2^18, up to 10^6, or up to F0·F1
  --target model|circuit      KL against the full model (default) or the full circuit
  --relu                      ReLU before the subcircuit's TopK
  --attribution-seqs N  --eval-seqs N  --bootstrap N  --seed S  --corpus builtin:brown|PATH
  --max-memory-mb N           memory bound of one pair, model and SAE weights included (default 60 % of this
                              machine's memory): batches, score blocks and evaluation chunks are sized to stay
                              under it, and what cannot fit is refused by name; recorded with the run
  --data-dir D  --backend B  --json`;

export async function evalScalarCommand(argv: string[]): Promise<number> {
  const { flags, options } = evalScalarArgs(argv);
  if (flags.help) return (say(usage), 0);
  // Options → spec exactly as the New run form does it: the preset's values, then what was given.
  const built = scalarJobFromOptions(options);
  if (!built.ok) throw new UsageError(issuesForCli(built.issues));
  const service = openService(flags);
  try {
    const run = await runInForeground(service, { spec: built.spec, name: built.name });
    return reportScalarRun(run, flags.json ?? false);
  } finally {
    await service.close();
  }
}

interface PairMetrics {
  pair: number;
  label: string;
  edges: number;
  memory_bound_mb?: number;
  memory_accounted_peak_mb?: number;
  peak_rss_mb?: number;
  peak_tensor_mb?: number;
  attribution_seconds?: number;
  ablation_seconds?: number;
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
    // What computed (GPU adapter: vendor, architecture, driver, API; or the CPU line).
    ...deviceJson(computeOf(run.backend, run.summary)),
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
      seconds: { attribution: p.attribution_seconds ?? null, ablation: p.ablation_seconds ?? null },
      // Memory (runs before the bound have none): the bound, the declared peak, the measured peak RSS.
      memory: {
        bound_mb: p.memory_bound_mb ?? null,
        accounted_peak_mb: p.memory_accounted_peak_mb ?? null,
        peak_rss_mb: p.peak_rss_mb ?? null,
        peak_tensor_mb: p.peak_tensor_mb ?? null,
      },
    })),
    eval_type_id: 'scalar',
    eval_config: cfg,
    wall_seconds: run.wallSeconds,
    error: run.error,
  };
  if (run.status === 'completed') {
    for (const p of out.scalar) {
      say(
        `${String(p.setup)} pair ${p.pair} (${String(p.arch)}): SCALAR abs ${fixed(p.auc_abs, 2)} [${p.auc_abs_ci.map((v) => fixed(v, 2)).join(', ')}]  rel ${typeof p.auc_rel === 'number' && Number.isFinite(p.auc_rel) ? p.auc_rel.toExponential(3) : 'n/a'}  log2 ${fixed(p.auc_log2, 3)}  KL(full circuit) ${fixed(p.full_circuit_kl, 4)}`,
      );
      if (p.memory.peak_rss_mb !== null)
        say(
          `  memory: peak RSS ${p.memory.peak_rss_mb} MB, declared peak ${p.memory.accounted_peak_mb} MB of the ${p.memory.bound_mb} MB bound` +
            (p.seconds.attribution !== null
              ? `; ${fixed(p.seconds.attribution, 1)} s attribution + ${fixed(p.seconds.ablation ?? 0, 1)} s ablation`
              : ''),
        );
    }
  } else {
    say(`run ${run.id} ${run.status}${run.error ? `: ${run.error}` : ''}`);
  }
  if (json) printJson(out);
  return run.status === 'completed' ? 0 : run.status === 'cancelled' ? 130 : 1;
}
