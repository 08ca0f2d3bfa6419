/**
 * `scalar bundle export` / `import` end to end in child processes, on a store seeded through the Store API
 * (no training): --json results, the imported rows and files, re-import skipping, and refusals that exit 2
 * with the reason on stderr and no stack trace.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../src-main/store/index.ts';
import { runCli } from './lmCli.helpers.ts';

const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

let tmp: string;
let srcDir: string;
let lmId: string;
let saeId: string;
let weights: Buffer;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-bundlecli-'));
  srcDir = path.join(tmp, 'src');
  const store = Store.open(srcDir);
  try {
    lmId = store.createRun({ kind: 'lm', name: 'toy', seed: 1, config: { kind: 'train-lm', config: {} } }).id;
    store.startRun(lmId);
    store.recordMetrics(lmId, 5, '', { val_loss: 1.75 });
    store.finishRun(lmId, { valLoss: 1.75 });
    saeId = store.createRun({
      kind: 'sae',
      parentId: lmId,
      config: { kind: 'train-sae', config: { lm: lmId } },
    }).id;
    weights = randomBytes(2048);
    const file = store.artifactPath(saeId, 'saes/blocks.0.hook_resid_pre/sae_weights.safetensors');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, weights);
    await store.registerArtifact({
      runId: saeId,
      kind: 'sae',
      name: 'saes/blocks.0.hook_resid_pre/sae_weights.safetensors',
    });
    store.startRun(saeId);
    store.recordMetrics(saeId, 10, 'blocks.0.hook_resid_pre', { l0: 4, mse: 0.5 });
    store.finishRun(saeId, { l0: 4 });
  } finally {
    store.close();
  }
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('scalar bundle', () => {
  it('exports with --with-deps, imports into a fresh data dir, then skips on re-import', async () => {
    const zip = path.join(tmp, 'sae.zip');
    const exp = await runCli([
      'bundle',
      'export',
      saeId,
      '--out',
      zip,
      '--with-deps',
      '--data-dir',
      srcDir,
      '--json',
    ]);
    expect(exp.code, exp.stderr).toBe(0);
    const none = { files: 0, bytes: 0, runs: 0 };
    expect(exp.json).toEqual({
      file: zip,
      bytes: fs.statSync(zip).size,
      runs: [lmId, saeId],
      leftOut: { resume: none, weights: none, exports: none },
      warnings: [],
    });

    const dstDir = path.join(tmp, 'dst');
    const imp = await runCli(['bundle', 'import', zip, '--data-dir', dstDir, '--json']);
    expect(imp.code, imp.stderr).toBe(0);
    expect(imp.json).toEqual({ imported: [lmId, saeId], skipped: [], warnings: [] });
    const dst = Store.open(dstDir);
    try {
      expect(dst.getMetricSeries(saeId, 'mse', 'blocks.0.hook_resid_pre')).toEqual([
        { step: 10, value: 0.5 },
      ]);
      expect(dst.requireRun(saeId)).toMatchObject({ parentId: lmId, status: 'completed' });
      const [a] = dst.listArtifacts(saeId);
      expect(a.sha256).toBe(sha(weights));
      expect(sha(fs.readFileSync(path.join(dstDir, a.path)))).toBe(sha(weights));
    } finally {
      dst.close();
    }

    const again = await runCli(['bundle', 'import', zip, '--data-dir', dstDir, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json).toMatchObject({
      imported: [],
      skipped: [
        { id: lmId, reason: 'already present' },
        { id: saeId, reason: 'already present' },
      ],
    });
  });

  it('--weights none: records only, the imported run marked; commands that need its weights say so', async () => {
    const zip = path.join(tmp, 'records.zip');
    const exp = await runCli([
      'bundle',
      'export',
      saeId,
      '--out',
      zip,
      '--with-deps',
      '--weights',
      'none',
      '--data-dir',
      srcDir,
    ]);
    expect(exp.code, exp.stderr).toBe(0);
    expect(exp.stderr).toContain('left out the weights of 1 run(s): 1 file(s), 2048 bytes');
    const dstDir = path.join(tmp, 'records');
    expect((await runCli(['bundle', 'import', zip, '--data-dir', dstDir])).code).toBe(0);
    const dst = Store.open(dstDir);
    try {
      expect(dst.requireRun(saeId).filesLeftOut).toEqual([
        {
          path: 'saes/blocks.0.hook_resid_pre/sae_weights.safetensors',
          bytes: 2048,
          sha256: sha(weights),
          role: 'weights',
        },
      ]);
      expect(dst.listArtifacts(saeId)).toEqual([]);
      expect(dst.getMetricSeries(saeId, 'mse', 'blocks.0.hook_resid_pre')).toHaveLength(1);
    } finally {
      dst.close();
    }
    const usage = await runCli(['bundle', 'import', zip, '--weights', 'none', '--data-dir', dstDir]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--weights, --without-exports and --max-edges are export options');
  });

  it('refuses a missing parent and a non-zip with exit 2, the reason on stderr and no stack trace', async () => {
    const zip = path.join(tmp, 'alone.zip');
    expect((await runCli(['bundle', 'export', saeId, '--out', zip, '--data-dir', srcDir])).code).toBe(0);
    const lonely = await runCli(['bundle', 'import', zip, '--data-dir', path.join(tmp, 'empty')]);
    expect(lonely.code).toBe(2);
    expect(lonely.stderr).toContain(`run ${saeId} needs run ${lmId} (its parent run)`);
    expect(lonely.stderr).toContain('--with-deps');
    expect(lonely.stderr).not.toMatch(/\n\s+at /);

    const junk = path.join(tmp, 'junk.zip');
    fs.writeFileSync(junk, 'not a zip');
    const bad = await runCli(['bundle', 'import', junk, '--data-dir', path.join(tmp, 'empty')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('bundle is truncated or not a zip file');
    expect(bad.stderr).not.toMatch(/\n\s+at /);

    const usage = await runCli(['bundle', 'export', saeId, '--data-dir', srcDir]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('export needs at least one RUN_ID and --out FILE.zip');
  });
});
