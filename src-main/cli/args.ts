/**
 * Command lines → typed job options: each job command's flags as `parseArgs` reads them and the string → number
 * rules it applies. The options then go through the shared builders (src-shared/jobBuilders.ts), the same ones
 * the New run forms use. Kept free of the service (no store, no engine) so the mapping is cheap to test.
 */
import { parseArgs } from 'node:util';
import type {
  ImportSaeOptions,
  LmJobOptions,
  PipelineJobOptions,
  SaeJobOptions,
  ScalarJobOptions,
} from '../../src-shared/jobBuilders.ts';

export const GLOBAL_OPTIONS = {
  'data-dir': { type: 'string' },
  backend: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export interface GlobalFlags {
  'data-dir'?: string;
  backend?: string;
  json?: boolean;
  help?: boolean;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

/** A non-negative integer flag (train-lm, train-sae). */
function nonNegative(v: string | undefined, flag: string, integer = true): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n)))
    throw new UsageError(`${flag} needs a non-negative ${integer ? 'integer' : 'number'}, got '${v}'`);
  return n;
}

/** A positive integer flag (import-sae's evaluation windows). */
function positive(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} needs a positive integer, got '${v}'`);
  return n;
}

/** `scalar train-lm` flags. */
export function trainLmArgs(argv: string[]): { flags: GlobalFlags; options: LmJobOptions } {
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
  return {
    flags: values,
    options: {
      preset: values.preset,
      corpus: values.corpus,
      steps: nonNegative(values.steps, '--steps'),
      seed: nonNegative(values.seed, '--seed'),
      batchSize: values['batch-size'] ? nonNegative(values['batch-size'], '--batch-size') : undefined,
      evalEvery: nonNegative(values['eval-every'], '--eval-every'),
      lr: values.lr ? Number(values.lr) : undefined,
      name: values.name,
    },
  };
}

/** `scalar train-sae` flags (`lm` stays undefined when not given: the command fills in the bundled model). */
export function trainSaeArgs(argv: string[]): { flags: GlobalFlags; options: SaeJobOptions } {
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
  return {
    flags: values,
    options: {
      lm: values.lm,
      arch: values.arch ?? '',
      setup: values.setup ?? '',
      preset: values.preset,
      width: nonNegative(values.width, '--width'),
      k: nonNegative(values.k, '--k'),
      lambda: nonNegative(values.lambda, '--lambda', false),
      lambdaNorm: values['lambda-norm'],
      steps: nonNegative(values.steps, '--steps'),
      seed: nonNegative(values.seed, '--seed'),
      batchSize: values['batch-size'] ? nonNegative(values['batch-size'], '--batch-size') : undefined,
      seqLen: values['seq-len'] ? nonNegative(values['seq-len'], '--seq-len') : undefined,
      evalEvery: nonNegative(values['eval-every'], '--eval-every'),
      corpus: values.corpus,
      name: values.name,
    },
  };
}

/** `scalar eval` flags (numbers as given; the schema judges them). */
export function evalScalarArgs(argv: string[]): { flags: GlobalFlags; options: ScalarJobOptions } {
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
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  return {
    flags: values,
    options: {
      sae: values.sae ?? '',
      preset: values.preset,
      pairs: values.pairs?.split(',').map(Number),
      ranking: values.ranking,
      scaling: values.scaling,
      steps: num(values.steps),
      grid: values.grid,
      target: values.target,
      relu: values.relu,
      attributionSeqs: num(values['attribution-seqs']),
      evalSeqs: num(values['eval-seqs']),
      bootstrap: num(values.bootstrap),
      seed: num(values.seed),
      corpus: values.corpus,
      name: values.name,
    },
  };
}

/** `scalar pipeline` flags. */
export function pipelineArgs(argv: string[]): { flags: GlobalFlags; options: PipelineJobOptions } {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...GLOBAL_OPTIONS,
      preset: { type: 'string', default: 'quick' },
      lm: { type: 'string' },
      seeds: { type: 'string' },
      seed: { type: 'string' },
      corpus: { type: 'string' },
      name: { type: 'string' },
    },
  });
  return {
    flags: values,
    options: {
      preset: values.preset,
      lm: values.lm,
      seeds: values.seeds ? Number(values.seeds) : undefined,
      seed: values.seed ? Number(values.seed) : undefined,
      corpus: values.corpus,
      name: values.name,
    },
  };
}

/** `scalar import-sae FOLDER` flags, and the evaluation windows only the CLI exposes. */
export function importSaeArgs(argv: string[]): {
  flags: GlobalFlags;
  options: ImportSaeOptions;
  evaluation: { batchSize?: number; evalBatches?: number; seqLen?: number; corpus?: string };
} {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ...GLOBAL_OPTIONS,
      lm: { type: 'string' },
      name: { type: 'string' },
      'batch-size': { type: 'string' },
      'eval-batches': { type: 'string' },
      'seq-len': { type: 'string' },
      corpus: { type: 'string' },
    },
    allowPositionals: true,
  });
  if (!values.help && positionals.length !== 1) throw new UsageError('give exactly one FOLDER to import');
  return {
    flags: values,
    options: { source: positionals[0] ?? '', lm: values.lm, name: values.name },
    evaluation: {
      batchSize: positive(values['batch-size'], '--batch-size'),
      evalBatches: positive(values['eval-batches'], '--eval-batches'),
      seqLen: positive(values['seq-len'], '--seq-len'),
      corpus: values.corpus,
    },
  };
}
