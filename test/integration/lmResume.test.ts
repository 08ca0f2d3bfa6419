/**
 * Crash-resume through the CLI: a `train-lm` run killed with SIGKILL after its first checkpoint is listed as
 * interrupted and, resumed with `scalar resume`, finishes with exactly the numbers of an uninterrupted run
 * (batches are a function of (seed, step); the state holds parameters and AdamW moments).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import { killAfterCheckpoint, runCli, savedStep } from './lmCli.helpers.ts';

interface LmJson {
  run_id: string;
  status: string;
  backend: string;
  params: number;
  steps: number;
  train_loss: number;
  val_loss: number;
  best_step: number;
  final_val_loss: number;
  checkpoint: string;
  resumed_from: number;
  error: string | null;
}

const TRAIN = [
  'train-lm',
  '--preset',
  'quick',
  '--steps',
  '120',
  '--seed',
  '5',
  '--eval-every',
  '20',
  '--json',
];

let tmp: string;

beforeAll(async () => {
  // The CLI children pick their own backend; this only makes sure the kernel module is compiled and cached
  // before two processes race to compile it.
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-resume-'));
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('scalar train-lm killed with SIGKILL, then scalar resume', () => {
  let full: LmJson;

  beforeAll(async () => {
    const dir = path.join(tmp, 'uninterrupted');
    const r = await runCli([...TRAIN, '--data-dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    full = r.json as LmJson;
  });

  it('the uninterrupted run completes its 120 steps', () => {
    expect(full.status).toBe('completed');
    expect(full.steps).toBe(120);
    expect(full.resumed_from).toBe(0);
    expect(full.params).toBe(31_616);
    expect(Number.isFinite(full.val_loss) && full.val_loss < Math.log(128)).toBe(true);
  });

  it('resumes a killed run from its last checkpoint to identical results; the killed run is listed as interrupted', async () => {
    const dir = path.join(tmp, 'killed');
    const { saved, killed } = await killAfterCheckpoint(TRAIN, dir, 20);
    expect(saved, `no checkpoint appeared; stderr:\n${killed.stderr}`).not.toBeNull();
    expect(killed.signal).toBe('SIGKILL');
    // The run id the CLI announced is the one whose artifacts we watched.
    expect(killed.stderr).toContain(`started run ${saved!.runId}`);
    const runId = saved!.runId;
    const atKill = savedStep(dir)!.step;
    expect(atKill % 20).toBe(0); // states are written at evaluations
    expect(atKill).toBeLessThan(120);

    // The process is gone (waited for above), so the next CLI start marks its run interrupted.
    const listed = await runCli(['runs', '--data-dir', dir, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const runs = listed.json as { id: string; status: string }[];
    expect(runs.find((r) => r.id === runId)?.status).toBe('interrupted');

    const resumed = await runCli(['resume', runId, '--data-dir', dir, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const out = resumed.json as LmJson;
    expect(out.run_id).toBe(runId);
    expect(out.status).toBe('completed');
    expect(out.resumed_from).toBeGreaterThan(0);
    expect(out.resumed_from).toBe(atKill);
    expect(out.steps).toBe(120);
    // Same backend → the same float32 operations in the same order: identical, not just close.
    expect(out.backend).toBe(full.backend);
    expect(out.train_loss).toBe(full.train_loss);
    expect(out.val_loss).toBe(full.val_loss);
    expect(out.final_val_loss).toBe(full.final_val_loss);
    expect(out.best_step).toBe(full.best_step);
    expect(fs.existsSync(path.join(out.checkpoint, 'model.safetensors'))).toBe(true);

    const after = await runCli(['runs', '--data-dir', dir, '--json']);
    expect((after.json as { id: string; status: string }[]).find((r) => r.id === runId)?.status).toBe(
      'completed',
    );
  });
});
