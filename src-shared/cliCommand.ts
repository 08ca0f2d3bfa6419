/**
 * The `scalar` command line that does what a New run form does: same options, so the CLI builds the same job
 * spec (src-shared/jobBuilders.ts). Arguments are quoted for POSIX shells (bash, zsh, sh).
 */
import {
  flagOf,
  type ImportSaeOptions,
  type LmJobOptions,
  type PipelineJobOptions,
  type SaeJobOptions,
  type ScalarJobOptions,
} from './jobBuilders.ts';
import type { ReproduceCliOptions } from './reproduce.ts';

export type CliOptions =
  | ({ command: 'train-lm' } & LmJobOptions)
  | ({ command: 'train-sae' } & SaeJobOptions)
  | ({ command: 'eval' } & ScalarJobOptions)
  | ({ command: 'pipeline' } & PipelineJobOptions)
  | ({ command: 'import-sae' } & ImportSaeOptions)
  | ({ command: 'reproduce' } & ReproduceCliOptions);

export type CliCommandName = CliOptions['command'];

/** The order flags are written in (the order each command's --help lists them). */
const FLAG_ORDER: Record<CliCommandName, string[]> = {
  'train-lm': [
    'preset',
    'corpus',
    'steps',
    'warmup',
    'seed',
    'batchSize',
    'evalEvery',
    'valTokens',
    'lr',
    'name',
  ],
  'train-sae': [
    'lm',
    'arch',
    'setup',
    'preset',
    'width',
    'k',
    'lambda',
    'lambdaNorm',
    'steps',
    'seed',
    'batchSize',
    'seqLen',
    'warmup',
    'evalEvery',
    'evalTokens',
    'corpus',
    'layers',
    'gradAccum',
    'checkpointEvery',
    'bufferTokens',
    'forwardWindows',
    'name',
  ],
  eval: [
    'sae',
    'preset',
    'pairs',
    'ranking',
    'scaling',
    'steps',
    'singleStepAlpha',
    'grid',
    'target',
    'relu',
    'attributionSeqs',
    'evalSeqs',
    'bootstrap',
    'seed',
    'corpus',
    'maxMemoryMb',
    'name',
  ],
  pipeline: ['preset', 'lm', 'seeds', 'seed', 'corpus', 'name'],
  'import-sae': ['lm', 'name'],
  reproduce: ['preset', 'seeds', 'seed', 'setups', 'noVariants', 'lm', 'corpus', 'name'],
};

/** Characters a POSIX shell leaves alone in an unquoted word. */
const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** One shell word: bare when safe, else single-quoted (a `'` inside becomes `'\''`). */
export function shellQuote(word: string): string {
  if (SAFE_WORD.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

function flagValue(value: unknown): string | null {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(String).join(',');
  return null;
}

/** The arguments after `scalar` (unquoted), e.g. `['train-lm', '--preset', 'quick', '--steps', '60']`. */
export function cliArgsFor(options: CliOptions, global: { dataDir?: string } = {}): string[] {
  const args: string[] = [options.command];
  // The folder import-sae takes comes first, as its usage writes it (at the end after `--` if it looks like a flag).
  const dashedSource = options.command === 'import-sae' && options.source.startsWith('-');
  if (options.command === 'import-sae' && !dashedSource) args.push(options.source);
  const values = options as unknown as Record<string, unknown>;
  for (const field of FLAG_ORDER[options.command]) {
    const value = values[field];
    if (value === undefined || value === null || value === false) continue;
    const flag = `--${flagOf(field)}`;
    if (value === true) {
      args.push(flag);
      continue;
    }
    const text = flagValue(value);
    // `--name=-x`: a value starting with '-' would otherwise read as a flag.
    if (text !== null) args.push(...(text.startsWith('-') ? [`${flag}=${text}`] : [flag, text]));
  }
  if (global.dataDir) args.push('--data-dir', global.dataDir);
  if (dashedSource) args.push('--', (options as ImportSaeOptions).source);
  return args;
}

/** `npx scalar train-sae --lm resources:ascii-64x4-brown --arch topk --setup tblock --seed 0`. */
export function cliCommandFor(options: CliOptions, global: { dataDir?: string } = {}): string {
  return ['npx', 'scalar', ...cliArgsFor(options, global)].map(shellQuote).join(' ');
}
