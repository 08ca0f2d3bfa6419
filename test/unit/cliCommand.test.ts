/**
 * The New run forms show a `scalar` command line that must do what the form does. For several option sets: the
 * command line the form shows is split by a real POSIX shell, its words go through the CLI's own argument parsers
 * (src-main/cli/args.ts: parseArgs and the string → number rules), and the spec the CLI builds from them equals
 * the spec the form builds from its options. A few specs are also checked against hand-computed values, so the
 * shared builders cannot drift from the CLI's documented behaviour unnoticed.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cliCommandFor, shellQuote, type CliOptions } from '../../src-shared/cliCommand.ts';
import {
  importSaeRequestFromOptions,
  issuesForCli,
  lmJobFromOptions,
  pipelineJobFromOptions,
  saeJobFromOptions,
  scalarJobFromOptions,
} from '../../src-shared/jobBuilders.ts';
import { LM_PRESETS } from '../../src-shared/lm.ts';
import { SAE_PRESETS } from '../../src-shared/sae.ts';
import {
  evalScalarArgs,
  importSaeArgs,
  pipelineArgs,
  trainLmArgs,
  trainSaeArgs,
} from '../../src-main/cli/args.ts';

/** The words a POSIX shell makes of `npx scalar …`, without `npx scalar` itself. */
function shellWords(command: string): string[] {
  expect(command.startsWith('npx scalar ')).toBe(true);
  const script = `printf '%s\\0' ${command.slice('npx scalar '.length)}`;
  const out = execFileSync('sh', ['-c', script], { encoding: 'utf8' });
  return out.split('\0').slice(0, -1);
}

/** What the CLI builds from a command line (its argument parser, then the shared builder). */
function cliBuild(command: string) {
  const [name, ...argv] = shellWords(command);
  switch (name) {
    case 'train-lm':
      return { parsed: trainLmArgs(argv), built: lmJobFromOptions(trainLmArgs(argv).options) };
    case 'train-sae':
      return { parsed: trainSaeArgs(argv), built: saeJobFromOptions(trainSaeArgs(argv).options) };
    case 'eval':
      return { parsed: evalScalarArgs(argv), built: scalarJobFromOptions(evalScalarArgs(argv).options) };
    case 'pipeline':
      return { parsed: pipelineArgs(argv), built: pipelineJobFromOptions(pipelineArgs(argv).options) };
    case 'import-sae':
      return { parsed: importSaeArgs(argv), built: importSaeRequestFromOptions(importSaeArgs(argv).options) };
    default:
      throw new Error(`unexpected command ${name}`);
  }
}

/** What the form builds from its options. */
function formBuild(o: CliOptions) {
  const { command, ...options } = o;
  switch (command) {
    case 'train-lm':
      return lmJobFromOptions(options as Parameters<typeof lmJobFromOptions>[0]);
    case 'train-sae':
      return saeJobFromOptions(options as Parameters<typeof saeJobFromOptions>[0]);
    case 'eval':
      return scalarJobFromOptions(options as Parameters<typeof scalarJobFromOptions>[0]);
    case 'pipeline':
      return pipelineJobFromOptions(options as Parameters<typeof pipelineJobFromOptions>[0]);
    case 'import-sae':
      return importSaeRequestFromOptions(options as Parameters<typeof importSaeRequestFromOptions>[0]);
    case 'reproduce':
      throw new Error('reproduce has its own round trip in reproduceCli.test.ts');
  }
}

const LM = 'resources:ascii-64x4-brown';

const CASES: { what: string; options: CliOptions }[] = [
  { what: 'LM, preset only', options: { command: 'train-lm', preset: 'quick', seed: 0 } },
  {
    what: 'LM, shortened schedule on a file with spaces and quotes in its path',
    options: {
      command: 'train-lm',
      preset: 'ascii-64x4',
      corpus: "/tmp/my corpora/Shakespeare's sonnets.txt",
      steps: 2000,
      seed: 3,
      name: 'sonnets $HOME `x` "long" run',
    },
  },
  {
    what: 'LM with batch size, eval interval and lr',
    options: {
      command: 'train-lm',
      preset: 'quick',
      steps: 90,
      seed: 1,
      batchSize: 8,
      evalEvery: 7,
      lr: 0.002,
    },
  },
  {
    what: 'TopK SAE, default schedule',
    options: { command: 'train-sae', lm: LM, arch: 'topk', setup: 'tblock', seed: 0 },
  },
  {
    what: 'JSAE with a paper λ in the sum convention, few steps, named with λ',
    options: {
      command: 'train-sae',
      lm: 'lm-20260101-abc',
      arch: 'jsae',
      setup: 'fflayer',
      preset: 'paper',
      lambda: 0.0012,
      lambdaNorm: 'sum',
      steps: 40,
      seed: 2,
      width: 256,
      k: 8,
      name: 'jsae fflayer λ0.0012 s2',
    },
  },
  {
    what: 'staircase on an uploaded corpus with seq len and batch size',
    options: {
      command: 'train-sae',
      lm: '/data/models/my model',
      arch: 'staircase-detach',
      setup: 'ffblock',
      steps: 300,
      seed: 7,
      batchSize: 16,
      seqLen: 32,
      evalEvery: 50,
      corpus: '/srv/uploads/corpus/ab12-notes.txt',
    },
  },
  { what: 'SCALAR, paper preset', options: { command: 'eval', sae: 'sae-x1', seed: 0 } },
  {
    what: 'SCALAR, quick preset with every knob',
    options: {
      command: 'eval',
      sae: 'sae-20260102-def',
      preset: 'quick',
      pairs: [0, 2],
      ranking: 'random',
      scaling: 'textbook',
      steps: 5,
      grid: 'full',
      target: 'circuit',
      relu: true,
      attributionSeqs: 30,
      evalSeqs: 10,
      bootstrap: 100,
      seed: 4,
      name: "ablation 'random' baseline",
    },
  },
  {
    what: 'pipeline, paper-toy with seeds and a corpus',
    options: {
      command: 'pipeline',
      preset: 'paper-toy',
      lm: LM,
      seeds: 3,
      seed: 10,
      corpus: '/tmp/c.txt',
      name: 'paper toy',
    },
  },
  { what: 'pipeline, quick', options: { command: 'pipeline', preset: 'quick', lm: LM, seed: 0 } },
  {
    what: 'SAELens import from a folder with a space',
    options: { command: 'import-sae', source: '/home/me/sae lens/gpt2-small', lm: LM, name: 'from SAELens' },
  },
  {
    what: 'import from a folder that looks like a flag',
    options: { command: 'import-sae', source: '-odd', lm: LM },
  },
];

describe('cliCommandFor: the command line builds the same spec as the form', () => {
  for (const c of CASES) {
    it(c.what, () => {
      const form = formBuild(c.options);
      expect(form.ok, JSON.stringify(form)).toBe(true);
      const command = cliCommandFor(c.options, { dataDir: '/tmp/scalar data' });
      const { parsed, built } = cliBuild(command);
      expect(built).toEqual(form);
      expect(parsed.flags['data-dir']).toBe('/tmp/scalar data');
    });
  }
});

describe('the shared builders match the CLI documented behaviour', () => {
  it('--steps shortens warmup to a tenth and evaluates about ten times (LM)', () => {
    const b = lmJobFromOptions({ preset: 'quick', steps: 60 });
    if (!b.ok) throw new Error('invalid');
    expect(b.spec.config.schedule).toMatchObject({ steps: 60, warmupSteps: 6, evalEvery: 6 });
    expect(b.spec.config.model).toEqual(LM_PRESETS.quick.model);
    expect(b.spec.config.corpus).toBe('builtin:brown');
    expect(b.name).toBe('quick s0');
  });

  it('without --steps the preset schedule is kept (LM)', () => {
    const b = lmJobFromOptions({ preset: 'ascii-64x4', seed: 5 });
    if (!b.ok) throw new Error('invalid');
    expect(b.spec.config.schedule).toMatchObject({ steps: 10_000, warmupSteps: 1000, evalEvery: 500 });
    expect(b.spec.config.seed).toBe(5);
  });

  it('SAE --steps rescales warmup and the evaluation interval (six evaluations)', () => {
    const b = saeJobFromOptions({ lm: LM, arch: 'topk', setup: 'tblock', steps: 40 });
    if (!b.ok) throw new Error('invalid');
    expect(b.spec.config.schedule).toMatchObject({
      steps: 40,
      warmupSteps: 4,
      evalEvery: 7,
      batchSize: SAE_PRESETS.quick.batchSize,
    });
    expect(b.spec.config).toMatchObject({ width: 512, k: 10, lambda: 16, lambdaNorm: 'mean', seed: 0 });
    expect(b.name).toBe('topk tblock s0');
  });

  it('SCALAR takes the preset, then what was given', () => {
    const b = scalarJobFromOptions({ sae: 's', preset: 'quick', evalSeqs: 12 });
    if (!b.ok) throw new Error('invalid');
    expect(b.spec.config).toMatchObject({
      attributionSeqs: 24,
      evalSeqs: 12,
      bootstrap: 200,
      preset: 'quick',
    });
  });

  it('refusals come back per option, in words, and as one CLI usage line', () => {
    const jsae = saeJobFromOptions({ lm: LM, arch: 'jsae', setup: 'tblock' });
    expect(jsae.ok).toBe(false);
    if (jsae.ok) return;
    expect(jsae.issues).toEqual([
      { field: 'setup', message: expect.stringMatching(/JSAE needs a tractable/) },
    ]);
    const steps = lmJobFromOptions({ preset: 'quick', steps: 0, batchSize: 2.5 });
    if (steps.ok) throw new Error('expected refusal');
    expect(steps.issues).toEqual([
      { field: 'steps', message: 'must be an integer ≥ 1 (got 0)' },
      { field: 'batchSize', message: 'must be an integer ≥ 1 (got 2.5)' },
    ]);
    expect(issuesForCli(steps.issues)).toBe(
      'option --steps must be an integer ≥ 1 (got 0); option --batch-size must be an integer ≥ 1 (got 2.5)',
    );
    const grid = scalarJobFromOptions({ sae: 's', grid: 'huge', pairs: [-1] });
    if (grid.ok) throw new Error('expected refusal');
    expect(grid.issues.map((i) => i.field).sort()).toEqual(['grid', 'pairs']);
    expect(grid.issues.find((i) => i.field === 'grid')!.message).toBe(
      "must be one of paper, gpt2-paper, full (got 'huge')",
    );
    expect(lmJobFromOptions({ preset: 'nope' })).toMatchObject({ ok: false, issues: [{ field: 'preset' }] });
  });
});

describe('shellQuote', () => {
  it('leaves safe words bare and survives a round trip through sh', () => {
    expect(shellQuote('resources:ascii-64x4-brown')).toBe('resources:ascii-64x4-brown');
    for (const word of [
      "it's",
      'a b',
      '$(rm -rf /)',
      '`x`',
      'λ=0.001',
      '',
      'tab\there',
      'new\nline',
      '"q"',
    ]) {
      const out = execFileSync('sh', ['-c', `printf '%s' ${shellQuote(word)}`], { encoding: 'utf8' });
      expect(out).toBe(word);
    }
  });
});
