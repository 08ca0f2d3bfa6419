/** scalar train-sae: train TopK / Staircase (and variants) / Jacobian SAEs on a frozen LM. */
import { issuesForCli, saeJobFromOptions } from '../../../src-shared/jobBuilders.ts';
import { evalProtocolOf, SAE_EVAL_TOKENS } from '../../../src-shared/evalProtocol.ts';
import {
  SAE_PRESET_SAES,
  SAE_PRESETS,
  SAE_SETUPS,
  TRAINABLE_ARCHS,
  type SaePresetName,
} from '../../../src-shared/sae.ts';
import { defaultLmRef } from '../../jobs/lmRef.ts';
import type { RunRecord } from '../../store/index.ts';
import { trainSaeArgs } from '../args.ts';
import { openService, printJson, runInForeground, say, UsageError } from '../context.ts';
import { computeOf, deviceJson } from '../../../src-shared/device.ts';

export const usage = `scalar train-sae --arch ${TRAINABLE_ARCHS.join('|')} --setup ${SAE_SETUPS.join('|')} [options]
  --lm RUN_ID|resources:NAME|PATH   frozen language model: a run, a bundled model, or a Hugging Face GPT-2 folder
                   (config.json + model.safetensors) (default: the bundled model)
  --preset ${Object.keys(SAE_PRESETS).join('|')}   (default quick)
                   quick, paper: toy-model schedules (paper: 7,500 steps of 128 × 128 tokens, SPEC §3.4)
                   gpt2-paper: GPT-2 Small at the paper's settings — ${describePresetSae('gpt2-paper')}
                   gpt2-small-cpu: GPT-2 Small on a laptop CPU — ${describePresetSae('gpt2-small-cpu')}
  --width F        latents per SAE, or the staircase chunk n (default 512 = ×8 on the toy model; preset's)
  --k K            TopK sparsity (default 10; preset's)
  --layers L,L,…   blocks whose pairs are trained, e.g. 1,6,11 (default: every block; preset's)
  --lambda L  --lambda-norm mean|sum   JSAE penalty weight and convention (default 16, mean)
  --steps N        training steps (default: the preset's). A shorter --steps also shortens the warmup to
                   min(preset warmup, 10 % of N) and the evaluation interval to about N/6 steps, unless
                   --warmup / --eval-every are given
  --warmup N       linear warmup steps (default: the preset's, or the rule above)
  --eval-every N   steps between evaluations (default: the preset's; with --steps, about 6 evaluations, at most
                   the preset's interval)
  --checkpoint-every N   also save the resumable state every N steps between evaluations (default: at
                   evaluations only; gpt2-paper 100, gpt2-small-cpu 25)
  --eval-tokens N  validation tokens the SAE metrics and ΔCE are measured on, in whole windows spread over the
                   validation split (default: quick ${SAE_EVAL_TOKENS.quick}, paper ${SAE_EVAL_TOKENS.paper}; streamed: the
                   first tokens of the text set); independent of --batch-size
  --seed S  --batch-size B (windows per optimizer step)  --seq-len T (default: the LM context)  --name NAME
  --grad-accum N   micro-batches per optimizer step: B windows in N equal parts, gradients averaged (the same
                   update as the whole batch; the dense [tokens, F] buffers hold one part) (default 1; preset's)
  --corpus builtin:brown|FILE|FOLDER|FILE.jsonl   text (set) to train on; folders and JSONL need streaming
  --buffer-tokens N   stream activations: read and tokenize the text set as needed, keep the LM's activations
                   of N tokens in a shuffle buffer (N × hooks × d_model × 4 bytes) and draw each micro-batch from
                   it; the first --eval-tokens tokens of the set are the validation set (default: the preset's;
                   quick/paper: no streaming, the corpus is tokenized in memory and split 90/10)
  --forward-windows W   windows per LM forward pass that refills the buffer (default 8; preset's)
  --data-dir D  --backend tensorflow-gpu|webgpu|wasm|tensorflow-cpu|cpu  --json
The schedule actually used is printed before training starts and stored with the run. A killed run continues
with scalar resume RUN (a streamed run's buffer and text position are saved with its state).`;

/** A GPT-2 preset's SAEs and schedule in words (for --help). */
function describePresetSae(name: SaePresetName): string {
  const p = SAE_PRESET_SAES[name]!;
  const s = SAE_PRESETS[name];
  const tokens = s.batchSize * (s.seqLen ?? 0);
  return (
    `${p.setup} pairs at blocks ${p.layers!.join(', ')}, F ${p.width.toLocaleString('en-US')}, k ${p.k};\n                     ` +
    `${s.steps.toLocaleString('en-US')} steps of ${s.batchSize} × ${s.seqLen} = ${tokens.toLocaleString('en-US')} tokens` +
    `${(s.gradAccum ?? 1) > 1 ? ` in ${s.gradAccum} micro-batches` : ''}, warmup ${s.warmupSteps}, lr ${s.lr} → ${s.minLr};\n                     ` +
    `buffer ${p.stream!.bufferTokens.toLocaleString('en-US')} tokens, ${p.stream!.forwardWindows} windows a refill; ` +
    `evaluation on ${(SAE_EVAL_TOKENS[name] ?? 0).toLocaleString('en-US')} tokens ` +
    (s.evalEvery >= s.steps ? 'at the end' : `every ${s.evalEvery} steps`)
  );
}

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
    ...(s.layers ? { layers: s.layers } : {}),
    ...(s.data ? { data: s.data } : {}),
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
