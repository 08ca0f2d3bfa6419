/**
 * `scalar latent-stats` (issue 12 item 7): computes an SAE run's latent statistics in the foreground, as the app's
 * queue does after training, and reports them as JSON (per-SAE phase seconds included); refuses without --sae.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './lmCli.helpers.ts';

let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-latents-cli-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface StatsJson {
  run_id: string;
  status: string;
  tokens: number;
  hooks: { hook: string; width: number; seconds: { summaries: number; contexts: number; logits: number } }[];
}

describe('scalar latent-stats', () => {
  it('computes the statistics of a trained SAE run', async () => {
    const dir = path.join(tmp, 'data');
    const train = await runCli([
      ...['train-sae', '--lm', 'resources:ascii-64x4-brown', '--arch', 'topk', '--setup', 'tblock'],
      ...[
        '--steps',
        '4',
        '--batch-size',
        '4',
        '--seq-len',
        '16',
        '--eval-every',
        '4',
        '--width',
        '64',
        '--k',
        '4',
      ],
      ...['--data-dir', dir, '--json'],
    ]);
    expect(train.code, train.stderr).toBe(0);
    const sae = (train.json as { run_id: string }).run_id;
    const r = await runCli([
      ...['latent-stats', '--sae', sae, '--seqs', '4', '--seq-len', '32', '--batch-size', '4'],
      ...['--data-dir', dir, '--json'],
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = r.json as StatsJson;
    expect(j.status).toBe('completed');
    expect(j.tokens).toBe(4 * 32);
    expect(j.hooks.length).toBeGreaterThan(0);
    for (const h of j.hooks) {
      expect(h.width).toBe(64);
      expect(h.seconds.logits).toBeGreaterThanOrEqual(0);
    }
  }, 180_000);

  it('refuses without --sae', async () => {
    const r = await runCli(['latent-stats', '--data-dir', path.join(tmp, 'empty'), '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr + r.stdout).toContain('option --sae is required');
  });
});
