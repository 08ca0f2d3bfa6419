/**
 * CLI-level corpus errors (the CorpusError cases themselves are covered by test/unit/text-*.test.ts): an unusable
 * corpus makes `scalar train-lm` exit non-zero with the reason in its JSON line and on stderr, and no run is
 * recorded at all (the input is checked before the run exists).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import { runCli } from './lmCli.helpers.ts';

let tmp: string;

beforeAll(async () => {
  await initBackend(); // compiles / caches the kernel module once for the children
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-cli-'));
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('scalar train-lm with an unusable corpus', () => {
  const cases = [
    { name: 'empty file', content: '', message: /Corpus file is empty \(0 bytes\): .*empty\.txt/ },
    // quick preset, T = 64: each split must hold 65 characters, so 100 characters are too few.
    {
      name: 'too short for the context',
      content: 'x'.repeat(100),
      message: /is too short for context length T=64: it needs at least \d+ characters but has 100/,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: refused before a run exists, with the reason (and as the --json line)`, async () => {
      const file = path.join(tmp, c.content ? 'short.txt' : 'empty.txt');
      fs.writeFileSync(file, c.content);
      const dataDir = path.join(tmp, `data-${c.content.length}`);
      const r = await runCli([
        'train-lm',
        '--preset',
        'quick',
        '--steps',
        '5',
        '--corpus',
        file,
        '--data-dir',
        dataDir,
        '--json',
      ]);
      expect(r.code).toBe(1);
      const out = r.json as { status: string; error: string | null };
      expect(out, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`).not.toBeNull();
      expect(out.status).toBe('refused');
      expect(out.error).toMatch(c.message);
      expect(r.stderr).toMatch(c.message);

      // The input was checked before anything was recorded (issue 13): no run, not even a failed one.
      const listed = await runCli(['runs', '--data-dir', dataDir, '--json']);
      expect(listed.json).toEqual([]);
    });
  }
});
