/**
 * Bad input to `scalar validate-ranking` (issue 15): each refused with exit code 2, a sentence naming the option
 * and the value given, and nothing written (the data dir is not even created).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src-main/cli/main.ts';

let tmp: string;
let D: string;

async function scalar(...argv: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((c) => ((stderr += String(c)), true));
  try {
    return { code: await main(argv), stderr };
  } finally {
    err.mockRestore();
  }
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-validate-cli-'));
  D = path.join(tmp, 'data');
  fs.writeFileSync(path.join(tmp, 'a-file'), 'x');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('scalar validate-ranking refuses bad options', () => {
  it.each([
    [['--preset', 'huge'], /option --preset: .*"quick"\|"full".*\(got huge\)/],
    [['--seeds', '0'], /option --seeds: .*>=1.*\(got 0\)/],
    [['--seeds', '2.5'], /option --seeds: .*int.*\(got 2.5\)/],
    [['--seeds', 'many'], /option --seeds must be a number \(got 'many'\)/],
    [['--seed=-1'], /option --seed: .*>=0.*\(got -1\)/],
  ])('%j', async (args, message) => {
    const r = await scalar('validate-ranking', ...args, '--data-dir', D);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(fs.existsSync(D)).toBe(false);
  });

  it('an --out that is a file', async () => {
    const r = await scalar('validate-ranking', '--out', path.join(tmp, 'a-file'), '--data-dir', D);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('option --out must be a folder');
    expect(fs.existsSync(D)).toBe(false);
  });

  it('--help prints the usage', async () => {
    const r = await scalar('validate-ranking', '--help');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('scalar validate-ranking [--preset quick|full]');
  });
});
