/**
 * `scalar import-sae` of SAELens JumpReLU folders (the SAELens ≤ 5 jumprelu layout, saeLensForeign.helpers.ts)
 * end to end through the CLI: the run is a `jumprelu` SAE run whose L0 is the measured active count, and
 * `scalar eval` on it records how the subcircuit applied the SAE (eval_config.subcircuit_activation).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import { saveLmModel } from '../../src-main/engine/io/lmCheckpoint.ts';
import { setupPositions } from '../../src-main/engine/sae/positions.ts';
import { tinyGpt } from '../unit/sae.helpers.ts';
import { randomForeign, writeForeignSet } from '../unit/saeLensForeign.helpers.ts';
import { runCli } from './lmCli.helpers.ts';

let tmp: string;
let lmDir: string;

beforeAll(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-foreigncli-'));
  lmDir = path.join(tmp, 'lm');
  const gpt = tinyGpt({ dModel: 16, nLayer: 2, contextLength: 16, seed: 2 });
  await saveLmModel(lmDir, gpt);
  gpt.dispose();
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('scalar import-sae of JumpReLU SAEs', () => {
  it('imports as a jumprelu run with measured L0, and SCALAR records its subcircuit activation', async () => {
    const hooks = setupPositions('fflayer', 2).hooks;
    const src = writeForeignSet(
      path.join(tmp, 'saes'),
      'v5-jumprelu',
      Object.fromEntries(hooks.map((h, i) => [h, randomForeign(16, 8, 60 + i, true)])),
    );
    const D = path.join(tmp, 'data');
    const r = await runCli([
      'import-sae',
      src,
      '--lm',
      lmDir,
      '--batch-size',
      '4',
      '--seq-len',
      '16',
      '--data-dir',
      D,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const run = r.json as {
      run_id: string;
      status: string;
      arch: string;
      saes: { l0: number; d_sae: number }[];
    };
    expect(run).toMatchObject({ status: 'completed', arch: 'jumprelu' });
    // Measured, not a k: the mean active count, below d_sae, different from SAE to SAE.
    const l0s = run.saes.map((s) => s.l0);
    for (const s of run.saes) expect(s.l0 > 0 && s.l0 < s.d_sae, `l0 ${l0s.join(', ')}`).toBe(true);
    expect(new Set(l0s).size, `l0 ${l0s.join(', ')}`).toBeGreaterThan(1);
    const ev = await runCli([
      'eval',
      '--sae',
      run.run_id,
      '--pairs',
      '0',
      '--attribution-seqs',
      '2',
      '--eval-seqs',
      '2',
      '--bootstrap',
      '10',
      '--data-dir',
      D,
      '--json',
    ]);
    expect(ev.code, ev.stderr).toBe(0);
    expect(ev.json).toMatchObject({ status: 'completed' });
    expect(JSON.stringify(ev.json)).toMatch(/jumprelu\(threshold\): Z₁ = R·1\[R > θ₁\]/);
  });
});
