/**
 * Bad input at the `scalar` command line (issue 13): option values the argument parser or the shared schema
 * refuse, inputs the preflight refuses, unknown ids and broken files. The commands run in-process through the
 * CLI's own entry (main: argument parsing, error wording, exit codes), a few also as real child processes (no
 * stack trace reaches the terminal; `--debug` shows one). For every case: a non-zero exit, a message naming
 * the problem on stderr, and the data dir left as it was. Valid input that only warns goes through, warning.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src-main/cli/main.ts';
import { Store } from '../../src-main/store/index.ts';
import { runCli } from '../integration/lmCli.helpers.ts';
import { expectReadable, seedSaeRun, snapshot, writeLm, writeSaeSet } from './badInput.helpers.ts';
import { makeTempDir, removeDir } from './store.helpers.ts';

const TEXT = 'It was the best of times, it was the worst of times, it was the age of wisdom. '.repeat(60);

let tmp: string;
let D: string;
let store: Store;
let lmDir: string;
let saeRun: string;
let nanSaes: string;
let corpus: string;

/** Runs `scalar …` in-process; returns its exit code and what it wrote to stderr and stdout. */
async function scalar(...argv: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  let stderr = '';
  let stdout = '';
  const err = vi
    .spyOn(process.stderr, 'write')
    .mockImplementation((chunk) => ((stderr += String(chunk)), true));
  const out = vi
    .spyOn(process.stdout, 'write')
    .mockImplementation((chunk) => ((stdout += String(chunk)), true));
  try {
    const code = await main(argv);
    return { code, stderr, stdout };
  } finally {
    err.mockRestore();
    out.mockRestore();
  }
}

beforeAll(() => {
  tmp = makeTempDir('scalar-badcli-');
  D = path.join(tmp, 'data');
  store = Store.open(D);
  lmDir = writeLm(path.join(tmp, 'lm'));
  saeRun = seedSaeRun(store, lmDir, 'good sae');
  corpus = path.join(tmp, 'good.txt');
  fs.writeFileSync(corpus, TEXT);
  nanSaes = writeSaeSet(path.join(tmp, 'nan-saes'));
  const f = path.join(nanSaes, 'blocks.1.hook_mlp_out', 'sae_weights.safetensors');
  // Poison one float in place: the last 4 bytes of the file are the last tensor's (b_enc: tensors sort by name).
  const bytes = fs.readFileSync(f);
  bytes.writeFloatLE(NaN, bytes.length - 4);
  fs.writeFileSync(f, bytes);
});

afterAll(() => {
  store?.close();
  if (tmp) removeDir(tmp);
});

const CASES: { argv: () => string[]; code: number; says: RegExp }[] = [
  // A positional where a command takes none was reported as an internal error ("this is a bug").
  {
    argv: () => ['compare', 'scalar-x', '--baseline', 'scalar-y'],
    code: 2,
    says: /^scalar compare: Unexpected argument 'scalar-x'\. This command does not take positional arguments$/,
  },
  {
    argv: () => ['train-lm', '--steps', '0'],
    code: 2,
    says: /option --steps must be an integer ≥ 1 \(got 0\)/,
  },
  {
    argv: () => ['train-lm', '--steps', '2.5'],
    code: 2,
    says: /option --steps must be an integer ≥ 1 \(got 2\.5\)/,
  },
  { argv: () => ['train-lm', '--lr', 'fast'], code: 2, says: /option --lr must be a number \(got 'fast'\)/ },
  {
    argv: () => ['train-lm', '--batch-size', '0'],
    code: 2,
    says: /option --batch-size must be an integer ≥ 1 \(got 0\)/,
  },
  {
    argv: () => ['train-lm', '--eval-every', '0'],
    code: 2,
    says: /option --eval-every must be an integer ≥ 1 \(got 0\)/,
  },
  {
    argv: () => ['train-lm', '--preset', 'huge'],
    code: 2,
    says: /option --preset unknown preset 'huge'; choose quick, ascii-64x4/,
  },
  {
    argv: () => ['train-sae', '--arch', 'topk', '--setup', 'fflayer', '--k', '2.5'],
    code: 2,
    says: /option --k must be an integer ≥ 1 \(got 2\.5\)/,
  },
  {
    argv: () => ['train-sae', '--arch', 'topk', '--setup', 'fflayer', '--k', '0'],
    code: 2,
    says: /option --k must be an integer ≥ 1 \(got 0\)/,
  },
  {
    argv: () => ['train-sae', '--arch', 'topk', '--setup', 'fflayer', '--k=-3'],
    code: 2,
    says: /option --k must be an integer ≥ 1 \(got -3\)/,
  },
  {
    argv: () => ['train-sae', '--arch', 'topk', '--setup', 'fflayer', '--width', '64', '--k', '100'],
    code: 2,
    says: /option --k must be ≤ the width, 64 latents \(got 100\)/,
  },
  {
    argv: () => ['train-sae', '--arch', 'jsae', '--setup', 'tblock'],
    code: 2,
    says: /option --setup JSAE needs a tractable Jacobian/,
  },
  {
    argv: () => [
      'train-sae',
      '--lm',
      lmDir,
      '--arch',
      'topk',
      '--setup',
      'fflayer',
      '--width',
      '16',
      '--k',
      '4',
      '--batch-size',
      '10000000',
      '--corpus',
      corpus,
    ],
    code: 1,
    says: /one SAE training step of 10000000 windows of 16 tokens needs at least .* of memory.* lower option --batch-size \(10000000\)/,
  },
  {
    argv: () => ['train-sae', '--lm', lmDir, '--arch', 'topk', '--setup', 'fflayer', '--seq-len', '64'],
    code: 1,
    says: /option --seq-len must be ≤ the language model's context length 16 \(got 64\)/,
  },
  {
    argv: () => ['eval', '--sae', saeRun, '--pairs', '99'],
    code: 1,
    says: /option --pairs names pair 99, but this fflayer run has pairs 0–1/,
  },
  {
    argv: () => ['eval', '--sae', saeRun, '--pairs', 'a,b'],
    code: 2,
    says: /option --pairs must be pair numbers separated by commas, e\.g\. 0,2 \(got 'a,b'\)/,
  },
  {
    argv: () => ['eval', '--sae', 'sae-20200101-000000-zzzz'],
    code: 1,
    says: /no SAE run 'sae-20200101-000000-zzzz'/,
  },
  {
    argv: () => ['eval', '--sae', saeRun, '--steps', '0'],
    code: 2,
    says: /option --steps must be an integer ≥ 1 \(got 0\)/,
  },
  {
    argv: () => ['import-sae', nanSaes, '--lm', lmDir],
    code: 1,
    says: /cannot import .*nan-saes: tensor 'b_enc' holds NaN at index 15 in sae_weights\.safetensors of blocks\.1\.hook_mlp_out/,
  },
  {
    argv: () => ['import-sae', nanSaes, '--lm', lmDir, '--batch-size', '0'],
    code: 1,
    says: /option --batch-size must be an integer ≥ 1 \(got 0\)/,
  },
  {
    argv: () => ['import-sae', path.join(tmp, 'nowhere'), '--lm', lmDir],
    code: 1,
    says: /cannot import .*nowhere: .*is not a folder/,
  },
  {
    argv: () => ['resume', 'lm-20200101-000000-zzzz'],
    code: 1,
    says: /Run lm-20200101-000000-zzzz not found/,
  },
  {
    argv: () => ['resume', saeRun],
    code: 1,
    says: /is completed; only failed, cancelled or interrupted runs can be resumed/,
  },
  {
    argv: () => ['runs', '--status', 'done'],
    code: 1,
    says: /parameter 'status' must be one of queued, running, completed, failed, cancelled, interrupted \(got 'done'\)/,
  },
  {
    argv: () => ['pipeline', '--lm', path.join(tmp, 'nowhere')],
    code: 1,
    says: /cannot find language model/,
  },
  {
    argv: () => ['pipeline', '--lm', lmDir, '--seeds', '0'],
    code: 2,
    says: /option --seeds must be an integer ≥ 1 \(got 0\)/,
  },
  { argv: () => ['bundle', 'import', corpus], code: 2, says: /truncated or not a zip file/ },
  {
    argv: () => ['train-lm', '--steps', '3', '--corpus', path.join(tmp, 'missing.txt')],
    code: 1,
    says: /Corpus file not found: .*missing\.txt/,
  },
  { argv: () => ['frobnicate'], code: 2, says: /unknown command 'frobnicate'/ },
];

describe('scalar commands refuse bad input in words, with a non-zero exit, leaving the data dir as it was', () => {
  it(`${CASES.length} command lines`, async () => {
    const problems: string[] = [];
    for (const c of CASES) {
      const argv = [...c.argv(), '--data-dir', D];
      const before = snapshot(store);
      const r = await scalar(...argv);
      const first = r.stderr.split('\n')[0];
      const what = `scalar ${argv.slice(0, -2).join(' ')}`;
      if (r.code !== c.code) problems.push(`${what}: exit ${r.code}, expected ${c.code}\n${r.stderr}`);
      if (!c.says.test(first)) problems.push(`${what}: says "${first}", expected ${c.says}`);
      try {
        expectReadable(r.stderr);
      } catch (e) {
        problems.push(`${what}: ${(e as Error).message}`);
      }
      if (JSON.stringify(snapshot(store)) !== JSON.stringify(before))
        problems.push(`${what}: the data dir changed`);
    }
    expect(problems).toEqual([]);
  });

  it('--debug adds the stack trace for a bug report', async () => {
    const r = await scalar('eval', '--sae', 'sae-20200101-000000-zzzz', '--data-dir', D, '--debug');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no SAE run 'sae-20200101-000000-zzzz'/);
    expect(r.stderr).toMatch(/\n\s+at .+:\d+:\d+/);
  });

  it('a corpus with a few invalid UTF-8 bytes trains, and the warning is shown', async () => {
    const file = path.join(tmp, 'fewbad.txt');
    fs.writeFileSync(
      file,
      Buffer.concat([Buffer.from(TEXT), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(TEXT)]),
    );
    const r = await scalar(
      'train-lm',
      '--steps',
      '2',
      '--batch-size',
      '2',
      '--corpus',
      file,
      '--data-dir',
      path.join(tmp, 'd2'),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /warning: corpus .*fewbad\.txt: 2 ill-formed UTF-8 sequence\(s\) were replaced by U\+FFFD/,
    );
  });
});

describe('as a child process', () => {
  it('an input refusal: exit code 1, one line of reason, no stack', async () => {
    const r = await runCli(['import-sae', nanSaes, '--lm', lmDir, '--data-dir', D]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^scalar import-sae: cannot import .*: tensor 'b_enc' holds NaN at index 15 in sae_weights\.safetensors of blocks\.1\.hook_mlp_out; SAE weights must all be finite$/,
      ),
    ]);
    expectReadable(r.stderr);
    expect(store.countRuns()).toBe(1); // the seeded SAE run only
  });
});
