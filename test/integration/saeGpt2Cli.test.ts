/**
 * The `gpt2-small-cpu` preset end to end through the CLI on a tiny GPT-2-shaped checkpoint written by the test
 * (issue 12 item 8: the real BPE vocabulary, 12 blocks so the preset's blocks 1, 6 and 11 exist, D 32, context
 * 128): `scalar train-sae --preset gpt2-small-cpu` trains the ffblock pairs at those blocks on activations
 * streamed from the built-in Brown text set, `scalar eval` runs SCALAR on every pair, a run killed with SIGKILL
 * after a checkpoint resumes with `scalar resume` to the numbers of the uninterrupted run, and bad options are
 * refused with a sentence before any run exists. The SAE width is the preset's ratio to the model width (×4 of
 * D 32 = 128, as 3,072 is ×4 of 768) and k 8, so CI stays quick; steps, blocks, batch, buffer are the preset's.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import { gpt2Weights, writeGpt2Folder, type Shape } from '../unit/gpt2.helpers.ts';
import { killAfterCheckpoint, runCli } from './lmCli.helpers.ts';

interface SaeJson {
  run_id: string;
  status: string;
  setup: string;
  steps: number;
  layers: number[];
  data: Record<string, number | string>;
  schedule: { batchSize: number; seqLen: number; gradAccum: number };
  saes: { hook: string; d_sae: number; l0: number; explained_variance: number; frac_alive: number }[];
  compound_ce_loss_increase: number;
  clean_ce: number;
  error: string | null;
}

const SHAPE: Shape = { V: 50257, T: 128, D: 32, L: 12, H: 2, eps: 1e-5 };
let tmp: string;
let lmDir: string;
let TRAIN: string[];

beforeAll(async () => {
  await initBackend(); // compiles and caches the kernels before the CLI children race to
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-gpt2cli-'));
  lmDir = writeGpt2Folder(path.join(tmp, 'gpt2-tiny'), SHAPE, gpt2Weights(SHAPE, 3));
  TRAIN = [
    'train-sae',
    '--lm',
    lmDir,
    '--preset',
    'gpt2-small-cpu',
    '--arch',
    'topk',
    '--width',
    '128',
    '--k',
    '8',
    '--steps',
    '6',
    '--eval-every',
    '3',
    '--eval-tokens',
    '256',
    '--seed',
    '1',
    '--json',
  ];
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const outcome = (j: SaeJson) => ({
  status: j.status,
  steps: j.steps,
  saes: j.saes,
  compound_ce_loss_increase: j.compound_ce_loss_increase,
  clean_ce: j.clean_ce,
});

describe('scalar train-sae --preset gpt2-small-cpu on a tiny GPT-2 checkpoint', () => {
  let full: SaeJson;

  beforeAll(async () => {
    const r = await runCli([...TRAIN, '--data-dir', path.join(tmp, 'uninterrupted')]);
    expect(r.code, r.stderr).toBe(0);
    full = r.json as SaeJson;
  }, 300_000);

  it('trains the ffblock pairs at blocks 1, 6, 11 on streamed activations with the preset schedule', () => {
    expect(full).toMatchObject({
      status: 'completed',
      setup: 'ffblock',
      steps: 6,
      layers: [1, 6, 11],
      error: null,
    });
    expect(full.saes.map((s) => [s.hook, s.d_sae])).toEqual(
      [1, 6, 11].flatMap((l) => [
        [`blocks.${l}.hook_resid_mid`, 128],
        [`blocks.${l}.hook_resid_post`, 128],
      ]),
    );
    expect(full.schedule).toMatchObject({ batchSize: 8, seqLen: 128, gradAccum: 1 });
    expect(full.data).toMatchObject({
      source: 'stream',
      buffer_tokens: 8192,
      buffer_bytes: 8192 * 6 * 32 * 4,
      forward_windows: 8,
      micro_batch_tokens: 1024,
    });
    for (const s of full.saes) {
      expect(s.l0).toBeGreaterThan(0);
      expect(s.l0).toBeLessThanOrEqual(8);
      expect(Number.isFinite(s.explained_variance)).toBe(true);
    }
  });

  it('scalar eval measures every pair of the run', async () => {
    const r = await runCli([
      'eval',
      '--sae',
      full.run_id,
      '--preset',
      'quick',
      '--attribution-seqs',
      '2',
      '--eval-seqs',
      '2',
      '--bootstrap',
      '20',
      '--data-dir',
      path.join(tmp, 'uninterrupted'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = r.json as { status: string; scalar: { pair: number; auc_abs: number; auc_rel: number }[] };
    expect(j.status).toBe('completed');
    expect(j.scalar.map((p) => p.pair)).toEqual([1, 6, 11]);
    for (const p of j.scalar) expect(Number.isFinite(p.auc_rel) && p.auc_rel >= 0).toBe(true);
  }, 300_000);

  it('a run killed with SIGKILL after a checkpoint resumes with scalar resume to the uninterrupted numbers', async () => {
    const dir = path.join(tmp, 'killed');
    const { saved, killed } = await killAfterCheckpoint(TRAIN, dir, 3);
    expect(saved, `no checkpoint appeared; stderr:\n${killed.stderr}`).not.toBeNull();
    expect(killed.signal).toBe('SIGKILL');
    const resumed = await runCli(['resume', saved!.runId, '--data-dir', dir, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(outcome(resumed.json as SaeJson)).toEqual(outcome(full));
  }, 300_000);
});

describe('scalar train-sae refuses GPT-2 options it cannot honour, before any run exists', () => {
  const refused = async (extra: string[], message: string | RegExp) => {
    const dir = path.join(tmp, `refused-${Math.random().toString(36).slice(2)}`);
    const r = await runCli([...TRAIN, ...extra, '--data-dir', dir]);
    expect(r.code, r.stdout).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(
      fs.existsSync(path.join(dir, 'artifacts')) && fs.readdirSync(path.join(dir, 'artifacts')).length,
    ).toBeFalsy();
  };

  it('a block the model does not have', () =>
    refused(
      ['--layers', '3,12'],
      'option --layers: block 12 does not exist: this model has 12 blocks (0–11)',
    ));

  it('a buffer smaller than a micro-batch and a refill', () =>
    refused(
      ['--buffer-tokens', '1500'],
      'option --buffer-tokens must hold at least one micro-batch (1024 tokens = 8 windows of 128) plus one refill (1024 tokens = 8 windows): at least 2048 (got 1500)',
    ));

  it('micro-batches that do not divide the batch', () =>
    refused(
      ['--grad-accum', '3'],
      'option --grad-accum must divide the batch size, 8 windows, into equal micro-batches (got 3)',
    ));

  it('k above the width', () =>
    refused(['--k', '200'], 'option --k must be ≤ the width, 128 latents (got 200)'));

  it('a folder text set without streaming', async () => {
    const folder = path.join(tmp, 'texts');
    fs.mkdirSync(folder, { recursive: true });
    fs.writeFileSync(path.join(folder, 'a.txt'), 'Some text.\n'.repeat(200));
    await refused(
      ['--preset', 'quick', '--setup', 'ffblock', '--corpus', folder],
      `${folder} is a folder: such text sets are read as a stream; give --buffer-tokens N (or a gpt2-* preset) to stream the activations`,
    );
  });

  it('--forward-windows without streaming', () =>
    refused(
      ['--preset', 'quick', '--setup', 'ffblock', '--forward-windows', '4'],
      'option --forward-windows applies to streamed activations only: give --buffer-tokens too',
    ));
});
