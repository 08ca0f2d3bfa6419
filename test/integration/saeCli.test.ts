/**
 * `scalar train-sae` and `scalar resume` end to end on a tiny untrained LM saved with saveLmModel: the --json
 * result's fields, crash-resume (SIGKILL after a checkpoint, then resume) to the numbers of an uninterrupted
 * run, and clear failures for an unknown --lm (before any run exists) and a JSAE at tblock.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import { saveLmModel } from '../../src-main/engine/io/lmCheckpoint.ts';
import { readSaeLens, STAIRCASE_FILE } from '../../src-main/engine/io/saelens.ts';
import { readSafetensorsFile } from '../../src-main/engine/io/safetensors.ts';
import { tinyGpt } from '../unit/sae.helpers.ts';
import { killAfterCheckpoint, runCli, savedStep } from './lmCli.helpers.ts';

interface SaeJson {
  run_id: string;
  status: string;
  backend: string;
  arch: string;
  setup: string;
  steps: number;
  params: number;
  saes: {
    hook: string;
    d_sae: number;
    l0: number;
    explained_variance: number;
    ce_loss_increase: number;
    kl_div: number;
    mse: number;
    frac_alive: number;
    l0_per_chunk?: number[];
  }[];
  compound_ce_loss_increase: number;
  compound_kl_div: number;
  clean_ce: number;
  l0_per_chunk?: number[][];
  export_dir: string;
  error: string | null;
}

const STEPS = 160;
const EVAL_EVERY = 20;
let tmp: string;
let lmDir: string;
let TRAIN: string[];

beforeAll(async () => {
  // Also makes sure the kernel module is compiled and cached before the CLI children race to compile it.
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-saecli-'));
  lmDir = path.join(tmp, 'lm');
  const gpt = tinyGpt({ dModel: 16, nLayer: 2, contextLength: 16, seed: 2 });
  await saveLmModel(lmDir, gpt);
  gpt.dispose();
  TRAIN = [
    'train-sae',
    '--lm',
    lmDir,
    '--arch',
    'staircase',
    '--setup',
    'tblock',
    '--steps',
    String(STEPS),
    '--batch-size',
    '4',
    '--seq-len',
    '16',
    '--eval-every',
    String(EVAL_EVERY),
    '--width',
    '16',
    '--k',
    '4',
    '--seed',
    '3',
    '--json',
  ];
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The result's numbers that must not depend on how the run got there (not its id, timing or folders). */
const outcome = (j: SaeJson) => ({
  status: j.status,
  backend: j.backend,
  steps: j.steps,
  params: j.params,
  saes: j.saes,
  compound_ce_loss_increase: j.compound_ce_loss_increase,
  compound_kl_div: j.compound_kl_div,
  clean_ce: j.clean_ce,
  l0_per_chunk: j.l0_per_chunk,
});

describe('scalar train-sae --arch staircase --setup tblock', () => {
  let full: SaeJson;

  beforeAll(async () => {
    const r = await runCli([...TRAIN, '--data-dir', path.join(tmp, 'uninterrupted')]);
    expect(r.code, r.stderr).toBe(0);
    full = r.json as SaeJson;
  });

  it('prints the documented JSON fields', () => {
    expect(full).toMatchObject({
      status: 'completed',
      arch: 'staircase',
      setup: 'tblock',
      steps: STEPS,
      error: null,
    });
    expect(full.run_id).toMatch(/^sae-/);
    expect(['wasm', 'cpu', 'webgpu', 'tensorflow-gpu', 'tensorflow-cpu']).toContain(full.backend);
    // Shared dictionary 2 · 16 · 48 + b_enc 16 + 32 + 48 + b_dec 3 · 16.
    expect(full.params).toBe(2 * 16 * 48 + 96 + 48);
    expect(full.saes.map((s) => [s.hook, s.d_sae])).toEqual([
      ['blocks.0.hook_resid_pre', 16],
      ['blocks.1.hook_resid_pre', 32],
      ['blocks.1.hook_resid_post', 48],
    ]);
    for (const s of full.saes) {
      for (const key of [
        'l0',
        'explained_variance',
        'ce_loss_increase',
        'kl_div',
        'mse',
        'frac_alive',
      ] as const)
        expect(Number.isFinite(s[key]), `${s.hook} ${key}`).toBe(true);
      expect(s.l0).toBeGreaterThan(0);
      expect(s.l0).toBeLessThanOrEqual(4); // at most k codes are non-zero
      expect(s.frac_alive).toBeGreaterThan(0);
      expect(s.frac_alive).toBeLessThanOrEqual(1);
    }
    expect(Number.isFinite(full.compound_ce_loss_increase)).toBe(true);
    // l0_per_chunk: one row per position p with p + 1 chunks, summing to that SAE's l0.
    expect(full.l0_per_chunk).toEqual(full.saes.map((s) => s.l0_per_chunk));
    full.l0_per_chunk!.forEach((row, p) => {
      expect(row).toHaveLength(p + 1);
      expect(row.reduce((a, c) => a + c, 0)).toBeCloseTo(full.saes[p].l0, 10);
    });
  });

  it('exports SAELens folders per hook and the shared staircase form', () => {
    expect(fs.readdirSync(full.export_dir).sort()).toEqual(
      [...full.saes.map((s) => s.hook), 'staircase'].sort(),
    );
    for (const s of full.saes) {
      const { cfg } = readSaeLens(path.join(full.export_dir, s.hook));
      expect([cfg.hook_name, cfg.d_sae, cfg.d_in, cfg.k]).toEqual([s.hook, s.d_sae, 16, 4]);
    }
    const shared = readSafetensorsFile(path.join(full.export_dir, 'staircase', STAIRCASE_FILE));
    expect(shared.tensors.W_dec.shape).toEqual([48, 16]);
  });

  it('scalar import-sae of the exported folders: same SAEs, same evaluation, and SCALAR runs on the import', async () => {
    const D = path.join(tmp, 'imported');
    const r = await runCli([
      'import-sae',
      full.export_dir,
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
    const imported = r.json as SaeJson & { imported_from: string };
    expect(imported).toMatchObject({
      status: 'completed',
      arch: 'staircase',
      setup: 'tblock',
      params: full.params,
    });
    expect(imported.imported_from).toBe(full.export_dir);
    // The same weights on the same evaluation windows: every metric is identical to the trained run's.
    expect(imported.saes.map(({ frac_alive: _f, ...rest }) => rest)).toEqual(
      full.saes.map(({ frac_alive: _f, ...rest }) => rest),
    );
    expect(imported.compound_ce_loss_increase).toBe(full.compound_ce_loss_increase);
    expect(imported.l0_per_chunk).toEqual(full.l0_per_chunk);
    const ev = await runCli([
      'eval',
      '--sae',
      imported.run_id,
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
  });

  it('scalar import-sae refuses a folder that is not a setup of the model, before any run exists', async () => {
    const D = path.join(tmp, 'import-refused');
    const r = await runCli([
      'import-sae',
      path.join(full.export_dir, 'staircase'),
      '--lm',
      lmDir,
      '--data-dir',
      D,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/holds no SAELens folders/);
    const runs = await runCli(['runs', '--data-dir', D, '--json']);
    expect(runs.json).toEqual([]);
  });

  it('killed with SIGKILL after a checkpoint, `scalar resume` finishes with identical numbers', async () => {
    const dir = path.join(tmp, 'killed');
    const { saved, killed } = await killAfterCheckpoint(TRAIN, dir, EVAL_EVERY);
    expect(saved, `no checkpoint appeared; stderr:\n${killed.stderr}`).not.toBeNull();
    expect(killed.signal, 'the run finished before it could be killed').toBe('SIGKILL');
    const atKill = savedStep(dir)!.step;
    expect(atKill % EVAL_EVERY).toBe(0); // states are written at evaluations
    expect(atKill).toBeLessThan(STEPS);

    const resumed = await runCli(['resume', saved!.runId, '--data-dir', dir, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const out = resumed.json as SaeJson;
    expect(out.run_id).toBe(saved!.runId);
    // Same backend, same float32 operations in the same order: identical, not just close.
    expect(outcome(out)).toEqual(outcome(full));
  });
});

describe('clear failures', () => {
  it('an unknown --lm fails before any run is created', async () => {
    const dir = path.join(tmp, 'no-lm');
    const r = await runCli([
      ...TRAIN.map((a) => (a === lmDir ? path.join(tmp, 'no-such-model') : a)),
      '--data-dir',
      dir,
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/cannot find language model '.*no-such-model'/);
    expect(r.stderr).not.toMatch(/started run/);
    const runs = await runCli(['runs', '--data-dir', dir, '--json']);
    expect(runs.code, runs.stderr).toBe(0);
    expect(runs.json).toEqual([]);
  });

  it('--arch jsae --setup tblock is refused before any run exists, with the reason and the setups to use', async () => {
    const dir = path.join(tmp, 'jsae-tblock');
    const args = TRAIN.map((a) => (a === 'staircase' ? 'jsae' : a));
    const r = await runCli([...args, '--data-dir', dir]);
    expect(r.code).toBe(2); // a usage error: the shared config schema rejects the combination
    expect(r.stderr).toMatch(
      /JSAE needs a tractable Jacobian between its pair: use setup fflayer or ffblock/,
    );
    const listed = await runCli(['runs', '--json', '--data-dir', dir]);
    expect(listed.json).toEqual([]);
  });
});
