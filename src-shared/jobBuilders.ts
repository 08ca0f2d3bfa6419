/**
 * From command options to a job: the one mapping the `scalar` CLI commands and the New run forms both use, so a
 * form and the command line it shows produce the same spec. Options are typed values (the CLI parses its strings
 * first); defaults, preset rescaling (e.g. `--steps` shortening warmup and the evaluation interval) and the shared
 * zod schemas live here. Failures come back as issues per option, worded for a person.
 */
import type { z } from 'zod';
import { lmEvaluationFor, saeEvaluationFor } from './evalProtocol.ts';
import { describeIssue, formatIssues, pathName } from './issues.ts';
import { JobSpecSchema, type JobSpec } from './jobs.ts';
import { LM_PRESETS, LM_PRESET_NAMES, LmTrainConfigSchema, type LmPresetName } from './lm.ts';
import { PipelineConfigSchema, type PipelineJob } from './pipeline.ts';
import {
  IMPORT_ONLY_ARCHS,
  SAE_ARCHS,
  SAE_PRESET_SAES,
  SAE_PRESETS,
  SAE_SETUPS,
  SaeTrainConfigSchema,
  TRAINABLE_ARCHS,
  type SaePresetName,
} from './sae.ts';
import { SCALAR_PRESETS, ScalarEvalConfigSchema, type ScalarPresetName } from './scalar.ts';
import { describeSchedule, type ScheduleSource } from './schedule.ts';

/** A problem with one option (`field` is the option's camelCase name; the CLI flag is its kebab-case). */
export interface FieldIssue {
  field: string;
  message: string;
}

export type Built<S> =
  | {
      ok: true;
      spec: S;
      name: string | undefined;
      /** Training jobs: the schedule the run will use, in words (where each number came from). */
      schedule?: string;
    }
  | { ok: false; issues: FieldIssue[] };

export type TrainLmJob = Extract<JobSpec, { kind: 'train-lm' }>;
export type TrainSaeJob = Extract<JobSpec, { kind: 'train-sae' }>;
export type ScalarJob = Extract<JobSpec, { kind: 'scalar' }>;

export const BUILTIN_CORPUS = 'builtin:brown';

export interface LmJobOptions {
  preset: string;
  corpus?: string;
  steps?: number;
  seed?: number;
  batchSize?: number;
  /** Warmup steps (default: the preset's; with --steps, min(preset, 10 % of steps)). */
  warmup?: number;
  evalEvery?: number;
  /** Validation tokens scored at each evaluation; 'all' = the whole validation split. */
  valTokens?: number | 'all';
  lr?: number;
  name?: string;
}

export interface SaeJobOptions {
  /** Run id, `resources:<name>` or a model folder; the CLI fills in the bundled model when absent. */
  lm?: string;
  arch: string;
  setup: string;
  preset?: string;
  width?: number;
  k?: number;
  lambda?: number;
  lambdaNorm?: string;
  steps?: number;
  seed?: number;
  batchSize?: number;
  seqLen?: number;
  warmup?: number;
  evalEvery?: number;
  /** Validation tokens the SAE metrics and ΔCE are measured on. */
  evalTokens?: number;
  corpus?: string;
  /** Blocks whose pairs are trained (default: the preset's, else every block). */
  layers?: number[];
  /** Micro-batches per optimizer step (gradient accumulation). */
  gradAccum?: number;
  /** Also write the resumable state every this many steps between evaluations. */
  checkpointEvery?: number;
  /** Stream activations through a shuffle buffer of this many tokens (default: the preset's; none: in memory). */
  bufferTokens?: number;
  /** Windows per LM forward pass that refills the buffer. */
  forwardWindows?: number;
  name?: string;
}

export interface ScalarJobOptions {
  sae: string;
  preset?: string;
  pairs?: number[];
  ranking?: string;
  scaling?: string;
  steps?: number;
  /** The integration point when steps = 1: 1 (default) or 0 (the reference code's linspace(0, 1, 1)). */
  singleStepAlpha?: number;
  grid?: string;
  target?: string;
  relu?: boolean;
  attributionSeqs?: number;
  evalSeqs?: number;
  bootstrap?: number;
  seed?: number;
  corpus?: string;
  /** Memory bound of one pair's computation, MB (omitted: 60 % of the machine's memory). */
  maxMemoryMb?: number;
  name?: string;
}

export interface PipelineJobOptions {
  preset?: string;
  lm?: string;
  seeds?: number;
  seed?: number;
  corpus?: string;
  name?: string;
}

export interface ImportSaeOptions {
  /** The folder holding one SAELens folder per hook (on the machine running the main process). */
  source: string;
  lm?: string;
  name?: string;
}

/** `batchSize` → `batch-size`. */
export function flagOf(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** One option's problem as a sentence: `option --k must be an integer ≥ 1 (got 2.5)`. */
export function optionSentence(issue: FieldIssue): string {
  return `option --${flagOf(issue.field)} ${issue.message}`;
}

/** Issues as the CLI prints them: one sentence per option, `; ` between them. */
export function issuesForCli(issues: FieldIssue[]): string {
  return issues.map(optionSentence).join('; ');
}

export { describeIssue };

/**
 * Zod issues → option issues (the first per option); `fieldOf` maps a config path to the option that sets it.
 * The schema and the input make each message whole: the full requirement and the value that was given.
 */
function toIssues(
  error: z.ZodError,
  fieldOf: (path: PropertyKey[]) => string,
  ctx: { schema: z.core.$ZodType; input: unknown },
): FieldIssue[] {
  const seen = new Set<string>();
  const out: FieldIssue[] = [];
  for (const i of error.issues) {
    const field = fieldOf(i.path);
    if (seen.has(field)) continue;
    seen.add(field);
    out.push({ field, message: describeIssue(i, ctx) });
  }
  return out;
}

/** The option that sets a job config's field (`schedule.batchSize` → `batchSize`, `schedule.warmupSteps` → `warmup`). */
export function fieldOfConfigPath(path: readonly PropertyKey[]): string {
  return scheduleField([...path]);
}

/**
 * A job spec's validation failure as sentences naming the options (what the Api answers for `jobs.start`, so a
 * request from any client reads like the CLI): `option --k must be an integer ≥ 1 (got 2.5)`.
 */
export function specIssuesText(error: z.ZodError, spec: unknown): string {
  return formatIssues(error.issues, {
    schema: JobSpecSchema,
    input: spec,
    subject: (p) =>
      p[0] === 'config' && p.length > 1
        ? `option --${flagOf(fieldOfConfigPath(p.slice(1)))}`
        : p[0] === 'kind'
          ? 'the job kind'
          : `'${pathName(p)}'`,
    root: 'the job spec',
  });
}

const fail = (field: string, message: string): { ok: false; issues: FieldIssue[] } => ({
  ok: false,
  issues: [{ field, message }],
});

/** The option that sets a config field (`schedule.warmupSteps` → `warmup`, `evaluation.valTokens` → `valTokens`). */
function scheduleField(path: PropertyKey[]): string {
  if (path[0] === 'model') return 'preset';
  if (path[0] === 'evaluation') return String(path[1] ?? 'preset');
  if (path[0] === 'stream') return String(path[1] ?? 'bufferTokens');
  if (path[0] !== 'schedule') return String(path[0] ?? 'preset');
  const key = String(path[1] ?? 'steps');
  return key === 'warmupSteps' ? 'warmup' : key;
}

/**
 * The schedule a run uses: options given win; otherwise a shortened schedule (--steps) keeps at most the preset's
 * warmup and 10 % of the steps, and evaluates about `evals` times (never less often than the preset). `source`
 * says where each number came from, for the printed schedule.
 */
function rescaled<S extends { steps: number; warmupSteps: number; evalEvery: number }>(
  preset: S,
  o: { steps?: number; warmup?: number; evalEvery?: number },
  evals: number,
): { schedule: S; source: ScheduleSource } {
  const n = o.steps ?? preset.steps;
  const schedule = {
    ...preset,
    steps: n,
    warmupSteps:
      o.warmup ??
      (o.steps !== undefined ? Math.min(preset.warmupSteps, Math.round(n * 0.1)) : preset.warmupSteps),
    evalEvery: o.evalEvery ?? Math.min(preset.evalEvery, Math.max(1, Math.round(n / evals))),
  };
  const source: ScheduleSource = {
    steps: o.steps !== undefined ? 'option' : 'preset',
    warmup: o.warmup !== undefined ? 'option' : o.steps !== undefined ? 'rescaled' : 'preset',
    evalEvery:
      o.evalEvery !== undefined ? 'option' : schedule.evalEvery === preset.evalEvery ? 'preset' : 'rescaled',
    evals,
    presetWarmup: preset.warmupSteps,
    presetEvalEvery: preset.evalEvery,
  };
  return { schedule, source };
}

/** --warmup past --steps would never reach the peak learning rate: refused, with both numbers. */
function warmupProblem(schedule: { steps: number; warmupSteps: number }, given: number | undefined) {
  if (given === undefined || !Number.isInteger(given) || given < 0 || given <= schedule.steps) return null;
  return fail('warmup', `must be ≤ the number of steps, ${schedule.steps} (got ${given})`);
}

/** `scalar train-lm`. */
export function lmJobFromOptions(o: LmJobOptions): Built<TrainLmJob> {
  if (!(o.preset in LM_PRESETS))
    return fail('preset', `unknown preset '${o.preset}'; choose ${LM_PRESET_NAMES.join(', ')}`);
  const preset = LM_PRESETS[o.preset as LmPresetName];
  const r = rescaled(preset.schedule, o, 10);
  const schedule = {
    ...r.schedule,
    ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
    ...(o.lr !== undefined ? { lr: o.lr } : {}),
  };
  const tooLong = warmupProblem(schedule, o.warmup);
  if (tooLong) return tooLong;
  const input = {
    preset: o.preset,
    model: preset.model,
    schedule,
    corpus: o.corpus ?? BUILTIN_CORPUS,
    seed: o.seed ?? 0,
    evaluation: lmEvaluationFor(o.preset, o.valTokens === 'all' ? null : o.valTokens),
  };
  const parsed = LmTrainConfigSchema.safeParse(input);
  if (!parsed.success)
    return {
      ok: false,
      issues: toIssues(parsed.error, scheduleField, { schema: LmTrainConfigSchema, input }),
    };
  return {
    ok: true,
    spec: { kind: 'train-lm', config: parsed.data },
    name: o.name ?? `${o.preset} s${parsed.data.seed}`,
    schedule: describeSchedule(parsed.data.schedule, r.source, parsed.data.evaluation!),
  };
}

/** `scalar train-sae`. */
export function saeJobFromOptions(options: SaeJobOptions): Built<TrainSaeJob> {
  // A GPT-2 preset names its setup (ffblock); an option given wins.
  const presetSetup = SAE_PRESET_SAES[(options.preset ?? 'quick') as SaePresetName]?.setup;
  const o = { ...options, setup: options.setup || presetSetup || '' };
  const issues: FieldIssue[] = [];
  if ((IMPORT_ONLY_ARCHS as readonly string[]).includes(o.arch))
    issues.push({
      field: 'arch',
      message: `'${o.arch}' SAEs can only be imported (scalar import-sae), not trained`,
    });
  else if (!(SAE_ARCHS as readonly string[]).includes(o.arch))
    issues.push({ field: 'arch', message: `must be one of ${TRAINABLE_ARCHS.join(', ')}` });
  if (!(SAE_SETUPS as readonly string[]).includes(o.setup))
    issues.push({ field: 'setup', message: `must be one of ${SAE_SETUPS.join(', ')}` });
  const presetName = o.preset ?? 'quick';
  if (!(presetName in SAE_PRESETS))
    issues.push({
      field: 'preset',
      message: `unknown preset '${presetName}'; choose ${Object.keys(SAE_PRESETS).join(', ')}`,
    });
  if (!o.lm) issues.push({ field: 'lm', message: 'needs a language model' });
  if (issues.length) return { ok: false, issues };
  const preset = SAE_PRESETS[presetName as SaePresetName];
  const presetSae = SAE_PRESET_SAES[presetName as SaePresetName];
  const r = rescaled(preset, o, 6);
  // Without --steps an SAE preset's interval stands (gpt2-small-cpu evaluates once, at the end: an evaluation
  // costs more than its training there); for quick and paper it is what the rule above gives anyway.
  if (o.steps === undefined && o.evalEvery === undefined) {
    r.schedule.evalEvery = preset.evalEvery;
    r.source.evalEvery = 'preset';
  }
  const schedule = {
    ...r.schedule,
    ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
    ...(o.seqLen !== undefined ? { seqLen: o.seqLen } : {}),
    ...(o.gradAccum !== undefined ? { gradAccum: o.gradAccum } : {}),
    ...(o.checkpointEvery !== undefined ? { checkpointEvery: o.checkpointEvery } : {}),
  };
  if (o.forwardWindows !== undefined && o.bufferTokens === undefined && !presetSae?.stream)
    return fail('forwardWindows', 'applies to streamed activations only: give --buffer-tokens too');
  const stream =
    o.bufferTokens !== undefined || presetSae?.stream
      ? {
          bufferTokens: o.bufferTokens ?? presetSae!.stream!.bufferTokens,
          forwardWindows: o.forwardWindows ?? presetSae?.stream?.forwardWindows,
        }
      : undefined;
  const layers = o.layers ?? presetSae?.layers;
  const tooLong = warmupProblem(schedule, o.warmup);
  if (tooLong) return tooLong;
  const input = {
    preset: presetName,
    lm: o.lm,
    arch: o.arch,
    setup: o.setup,
    width: o.width ?? presetSae?.width,
    k: o.k ?? presetSae?.k,
    lambda: o.lambda,
    lambdaNorm: o.lambdaNorm,
    schedule,
    corpus: o.corpus ?? BUILTIN_CORPUS,
    seed: o.seed ?? 0,
    evaluation: saeEvaluationFor(presetName, o.evalTokens),
    ...(layers ? { layers } : {}),
    ...(stream ? { stream } : {}),
  };
  const parsed = SaeTrainConfigSchema.safeParse(input);
  if (!parsed.success)
    return {
      ok: false,
      issues: toIssues(parsed.error, scheduleField, { schema: SaeTrainConfigSchema, input }),
    };
  const c = parsed.data;
  return {
    ok: true,
    spec: { kind: 'train-sae', config: c },
    name: o.name ?? `${c.arch} ${c.setup} s${c.seed}`,
    schedule: describeSchedule(c.schedule, r.source, c.evaluation!),
  };
}

/** `scalar eval`: options left out take the preset's values, then the schema's defaults. */
export function scalarJobFromOptions(o: ScalarJobOptions): Built<ScalarJob> {
  if (!o.sae) return fail('sae', 'needs an SAE run id (see scalar runs --kind sae)');
  const presetName = o.preset ?? 'paper';
  if (!(presetName in SCALAR_PRESETS))
    return fail('preset', `unknown preset '${presetName}'; choose ${Object.keys(SCALAR_PRESETS).join(', ')}`);
  const given = Object.fromEntries(
    Object.entries({
      sae: o.sae,
      pairs: o.pairs,
      ranking: o.ranking,
      scaling: o.scaling,
      steps: o.steps,
      singleStepAlpha: o.singleStepAlpha,
      grid: o.grid,
      target: o.target,
      relu: o.relu,
      attributionSeqs: o.attributionSeqs,
      evalSeqs: o.evalSeqs,
      bootstrap: o.bootstrap,
      seed: o.seed,
      corpus: o.corpus,
      maxMemoryMb: o.maxMemoryMb,
    }).filter(([, v]) => v !== undefined),
  );
  const input = { ...SCALAR_PRESETS[presetName as ScalarPresetName], preset: presetName, ...given };
  const parsed = ScalarEvalConfigSchema.safeParse(input);
  if (!parsed.success)
    return {
      ok: false,
      issues: toIssues(parsed.error, (p) => String(p[0] ?? 'sae'), { schema: ScalarEvalConfigSchema, input }),
    };
  return { ok: true, spec: { kind: 'scalar', config: parsed.data }, name: o.name };
}

/** `scalar pipeline` (started with `pipelines.start`, not as a worker job). */
export function pipelineJobFromOptions(o: PipelineJobOptions): Built<PipelineJob> {
  if (!o.lm) return fail('lm', 'needs a language model');
  const input = { preset: o.preset ?? 'quick', lm: o.lm, seeds: o.seeds, seed: o.seed, corpus: o.corpus };
  const parsed = PipelineConfigSchema.safeParse(input);
  if (!parsed.success)
    return {
      ok: false,
      issues: toIssues(parsed.error, (p) => String(p[0] ?? 'preset'), {
        schema: PipelineConfigSchema,
        input,
      }),
    };
  return { ok: true, spec: { kind: 'pipeline', config: parsed.data }, name: o.name };
}

/**
 * `scalar import-sae`: the request `saes.import` takes. The job itself is built on the main side, which reads the
 * folders' cfg.json for the architecture, setup, width and k.
 */
export function importSaeRequestFromOptions(
  o: ImportSaeOptions,
):
  { ok: true; request: { lm: string; source: string; name?: string } } | { ok: false; issues: FieldIssue[] } {
  const issues: FieldIssue[] = [];
  if (!o.source.trim()) issues.push({ field: 'source', message: 'needs the folder to import' });
  if (!o.lm) issues.push({ field: 'lm', message: 'needs a language model' });
  if (issues.length) return { ok: false, issues };
  return {
    ok: true,
    request: { lm: o.lm!, source: o.source, ...(o.name !== undefined ? { name: o.name } : {}) },
  };
}
