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
  /** Errors with their stack trace and raw details (for bug reports). */
  debug: { type: 'boolean', default: false },
} as const;

export interface GlobalFlags {
  'data-dir'?: string;
  backend?: string;
  json?: boolean;
  help?: boolean;
  debug?: boolean;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * A numeric flag as given: only text that is not a number at all is refused here; ranges and whole numbers are
 * the shared schema's to judge, so the CLI and the forms word them the same ("option --k must be an integer ≥ 1
 * (got 2.5)").
 */
export function numberFlag(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`option ${flag} must be a number (got '${v}')`);
  return n;
}

/** `--pairs 0,2` / `--layers 1,6,11`: numbers separated by commas. */
function pairsFlag(v: string | undefined, flag = '--pairs', what = 'pair'): number[] | undefined {
  if (v === undefined) return undefined;
  const parts = v.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '' || !Number.isFinite(Number(p))))
    throw new UsageError(
      `option ${flag} must be ${what} numbers separated by commas, e.g. ${flag === '--layers' ? '1,6,11' : '0,2'} (got '${v}')`,
    );
  return parts.map(Number);
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
      warmup: { type: 'string' },
      'eval-every': { type: 'string' },
      'val-tokens': { type: 'string' },
      lr: { type: 'string' },
      name: { type: 'string' },
    },
  });
  const valTokens = values['val-tokens'];
  return {
    flags: values,
    options: {
      preset: values.preset,
      corpus: values.corpus,
      steps: numberFlag(values.steps, '--steps'),
      seed: numberFlag(values.seed, '--seed'),
      batchSize: numberFlag(values['batch-size'], '--batch-size'),
      warmup: numberFlag(values.warmup, '--warmup'),
      evalEvery: numberFlag(values['eval-every'], '--eval-every'),
      valTokens: valTokens?.trim() === 'all' ? 'all' : numberFlag(valTokens, '--val-tokens'),
      lr: numberFlag(values.lr, '--lr'),
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
      warmup: { type: 'string' },
      'eval-every': { type: 'string' },
      'eval-tokens': { type: 'string' },
      corpus: { type: 'string', default: 'builtin:brown' },
      layers: { type: 'string' },
      'grad-accum': { type: 'string' },
      'checkpoint-every': { type: 'string' },
      'buffer-tokens': { type: 'string' },
      'forward-windows': { type: 'string' },
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
      width: numberFlag(values.width, '--width'),
      k: numberFlag(values.k, '--k'),
      lambda: numberFlag(values.lambda, '--lambda'),
      lambdaNorm: values['lambda-norm'],
      steps: numberFlag(values.steps, '--steps'),
      seed: numberFlag(values.seed, '--seed'),
      batchSize: numberFlag(values['batch-size'], '--batch-size'),
      seqLen: numberFlag(values['seq-len'], '--seq-len'),
      warmup: numberFlag(values.warmup, '--warmup'),
      evalEvery: numberFlag(values['eval-every'], '--eval-every'),
      evalTokens: numberFlag(values['eval-tokens'], '--eval-tokens'),
      corpus: values.corpus,
      layers: pairsFlag(values.layers, '--layers', 'block'),
      gradAccum: numberFlag(values['grad-accum'], '--grad-accum'),
      checkpointEvery: numberFlag(values['checkpoint-every'], '--checkpoint-every'),
      bufferTokens: numberFlag(values['buffer-tokens'], '--buffer-tokens'),
      forwardWindows: numberFlag(values['forward-windows'], '--forward-windows'),
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
      'single-step-alpha': { type: 'string' },
      grid: { type: 'string' },
      target: { type: 'string' },
      relu: { type: 'boolean' },
      'attribution-seqs': { type: 'string' },
      'eval-seqs': { type: 'string' },
      bootstrap: { type: 'string' },
      seed: { type: 'string' },
      corpus: { type: 'string' },
      name: { type: 'string' },
      'max-memory-mb': { type: 'string' },
    },
  });
  return {
    flags: values,
    options: {
      sae: values.sae ?? '',
      maxMemoryMb: numberFlag(values['max-memory-mb'], '--max-memory-mb'),
      preset: values.preset,
      pairs: pairsFlag(values.pairs),
      ranking: values.ranking,
      scaling: values.scaling,
      steps: numberFlag(values.steps, '--steps'),
      singleStepAlpha: numberFlag(values['single-step-alpha'], '--single-step-alpha'),
      grid: values.grid,
      target: values.target,
      relu: values.relu,
      attributionSeqs: numberFlag(values['attribution-seqs'], '--attribution-seqs'),
      evalSeqs: numberFlag(values['eval-seqs'], '--eval-seqs'),
      bootstrap: numberFlag(values.bootstrap, '--bootstrap'),
      seed: numberFlag(values.seed, '--seed'),
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
      seeds: numberFlag(values.seeds, '--seeds'),
      seed: numberFlag(values.seed, '--seed'),
      corpus: values.corpus,
      name: values.name,
    },
  };
}

/** `scalar import-sae FOLDER` flags, and the evaluation windows only the CLI exposes. */
export function importSaeArgs(argv: string[]): {
  flags: GlobalFlags;
  options: ImportSaeOptions;
  evaluation: { batchSize?: number; evalTokens?: number; seqLen?: number; corpus?: string };
} {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ...GLOBAL_OPTIONS,
      lm: { type: 'string' },
      name: { type: 'string' },
      'batch-size': { type: 'string' },
      'eval-batches': { type: 'string' },
      'eval-tokens': { type: 'string' },
      'seq-len': { type: 'string' },
      corpus: { type: 'string' },
    },
    allowPositionals: true,
  });
  if (values['eval-batches'] !== undefined)
    throw new UsageError(
      'option --eval-batches is replaced by --eval-tokens N (the evaluation set no longer depends on the batch size)',
    );
  if (!values.help && positionals.length !== 1) throw new UsageError('give exactly one FOLDER to import');
  return {
    flags: values,
    options: { source: positionals[0] ?? '', lm: values.lm, name: values.name },
    evaluation: {
      batchSize: numberFlag(values['batch-size'], '--batch-size'),
      evalTokens: numberFlag(values['eval-tokens'], '--eval-tokens'),
      seqLen: numberFlag(values['seq-len'], '--seq-len'),
      corpus: values.corpus,
    },
  };
}
