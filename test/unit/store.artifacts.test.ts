import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store, artifactPath, assertSafeArtifactName, hashFile } from '../../src-main/store/index.ts';
import { makeTempDir, removeDir } from './store.helpers.ts';

// FIPS 180-2 test vector: SHA-256("abc").
const SHA256_ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

let tmp: string;
let store: Store;
let runId: string;

beforeEach(() => {
  tmp = makeTempDir();
  store = Store.open(tmp);
  runId = store.createRun({ kind: 'sae' }).id;
});
afterEach(() => {
  store.close();
  removeDir(tmp);
});

function writeArtifact(name: string, bytes: string | Buffer, run = runId): string {
  const file = store.artifactPath(run, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes);
  return file;
}

describe('artifactPath', () => {
  it('places artifacts under <dataDir>/artifacts/<run_id>/', () => {
    expect(artifactPath(tmp, runId, 'blocks.0/sae_weights.safetensors')).toBe(
      path.join(tmp, 'artifacts', runId, 'blocks.0', 'sae_weights.safetensors'),
    );
  });

  it('rejects names that would escape the run folder, with a clear error', () => {
    const unsafe = [
      '../other-run/x',
      'a/../../x',
      '..',
      '/etc/passwd',
      'C:\\x',
      'C:x',
      '\\\\server\\share',
      'a\\..\\b',
    ];
    for (const name of [...unsafe, '', 'a//b', './a', 'a/.', 'a\0b']) {
      expect(() => artifactPath(tmp, runId, name), name).toThrow(
        expect.objectContaining({
          code: 'UNSAFE_ARTIFACT_PATH',
          message: expect.stringContaining('rejected'),
        }),
      );
    }
    expect(() => artifactPath(tmp, '../escape', 'x')).toThrow(
      expect.objectContaining({ code: 'INVALID_RUN' }),
    );
    expect(() => assertSafeArtifactName('..hidden/ok..name')).not.toThrow(); // dots inside names are fine
  });
});

describe('registerArtifact', () => {
  it('records sha256 and size; the hash matches an independent computation', async () => {
    writeArtifact('report/abc.txt', 'abc');
    const record = await store.registerArtifact({
      runId,
      kind: 'report',
      name: 'report/abc.txt',
      meta: { lines: 1 },
    });
    expect(record).toMatchObject({
      runId,
      kind: 'report',
      name: 'report/abc.txt',
      path: `artifacts/${runId}/report/abc.txt`,
      sha256: SHA256_ABC,
      bytes: 3,
      meta: { lines: 1 },
    });
    expect(createHash('sha256').update('abc').digest('hex')).toBe(SHA256_ABC);
    expect(store.getArtifact(record.id)).toEqual(record);
    expect(store.listArtifacts(runId)).toEqual([record]);
    expect(store.listArtifacts(runId, 'best')).toEqual([]);
  });

  it('streams large files to the same hash as hashing them in memory', async () => {
    const data = randomBytes(5 * 1024 * 1024 + 17); // several read chunks plus a ragged tail
    const file = writeArtifact('best.safetensors', data);
    expect(await hashFile(file)).toEqual({
      sha256: createHash('sha256').update(data).digest('hex'),
      bytes: data.length,
    });
    const record = await store.registerArtifact({
      runId,
      kind: 'best',
      name: 'best.safetensors',
      absPath: file,
    });
    expect(record.bytes).toBe(data.length);
  });

  it('replaces the record when the same (run, kind, name) is registered again', async () => {
    writeArtifact('ckpt.bin', 'abc');
    const first = await store.registerArtifact({ runId, kind: 'checkpoint', name: 'ckpt.bin' });
    writeArtifact('ckpt.bin', 'abcd');
    const second = await store.registerArtifact({ runId, kind: 'checkpoint', name: 'ckpt.bin' });
    expect(second.id).toBe(first.id);
    expect(second.bytes).toBe(4);
    expect(second.sha256).not.toBe(first.sha256);
    expect(store.listArtifacts(runId)).toHaveLength(1);
  });

  it('refuses unknown runs, missing files and files outside the run folder', async () => {
    await expect(
      store.registerArtifact({ runId: 'sae-missing', kind: 'sae', name: 'x' }),
    ).rejects.toMatchObject({
      code: 'RUN_NOT_FOUND',
    });
    await expect(store.registerArtifact({ runId, kind: 'sae', name: 'nothing-here' })).rejects.toMatchObject({
      code: 'ARTIFACT_MISSING_FILE',
    });
    await expect(store.registerArtifact({ runId, kind: 'sae', name: '../x' })).rejects.toMatchObject({
      code: 'UNSAFE_ARTIFACT_PATH',
    });
    const otherRun = store.createRun({ kind: 'sae' }).id;
    const foreign = writeArtifact('w.bin', 'abc', otherRun);
    await expect(
      store.registerArtifact({ runId, kind: 'sae', name: 'w.bin', absPath: foreign }),
    ).rejects.toMatchObject({ code: 'UNSAFE_ARTIFACT_PATH', message: expect.stringContaining('outside') });
  });

  it('refuses a symlink that points out of the run folder', async () => {
    const outside = path.join(tmp, 'outside.bin');
    fs.writeFileSync(outside, 'secret');
    const link = store.artifactPath(runId, 'link.bin');
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(outside, link);
    await expect(store.registerArtifact({ runId, kind: 'sae', name: 'link.bin' })).rejects.toMatchObject({
      code: 'UNSAFE_ARTIFACT_PATH',
    });
  });
});

describe('verifyArtifact', () => {
  it('passes for an untouched file', async () => {
    writeArtifact('sae.bin', 'abc');
    const record = await store.registerArtifact({ runId, kind: 'sae', name: 'sae.bin' });
    await expect(store.verifyArtifact(record.id)).resolves.toEqual(record);
    await expect(store.verifyArtifact({ runId, kind: 'sae', name: 'sae.bin' })).resolves.toEqual(record);
  });

  it('detects a modified file, even one of the same size', async () => {
    const file = writeArtifact('sae.bin', 'abc');
    const record = await store.registerArtifact({ runId, kind: 'sae', name: 'sae.bin' });
    fs.writeFileSync(file, 'abd');
    await expect(store.verifyArtifact(record.id)).rejects.toMatchObject({
      code: 'ARTIFACT_MISMATCH',
      message: expect.stringContaining(`expected sha256 ${SHA256_ABC}`),
    });
  });

  it('detects a missing file and an unknown artifact', async () => {
    const file = writeArtifact('sae.bin', 'abc');
    const record = await store.registerArtifact({ runId, kind: 'sae', name: 'sae.bin' });
    fs.rmSync(file);
    await expect(store.verifyArtifact(record.id)).rejects.toMatchObject({
      code: 'ARTIFACT_MISSING_FILE',
      message: expect.stringContaining('missing'),
    });
    await expect(store.verifyArtifact(12345)).rejects.toMatchObject({ code: 'ARTIFACT_NOT_FOUND' });
  });

  it('refuses a stored path that points outside the run folder (e.g. from a crafted bundle)', async () => {
    writeArtifact('sae.bin', 'abc');
    const record = await store.registerArtifact({ runId, kind: 'sae', name: 'sae.bin' });
    store.db.prepare('UPDATE artifacts SET path = ? WHERE id = ?').run('../../etc/passwd', record.id);
    await expect(store.verifyArtifact(record.id)).rejects.toMatchObject({ code: 'UNSAFE_ARTIFACT_PATH' });
  });

  it('still verifies after the whole data dir was moved (paths are relative)', async () => {
    writeArtifact('sae.bin', 'abc');
    const record = await store.registerArtifact({ runId, kind: 'sae', name: 'sae.bin' });
    store.close();
    const moved = path.join(tmp, 'moved');
    const original = path.join(tmp, 'original');
    // The data dir is tmp itself; move its contents into a new directory.
    fs.mkdirSync(original);
    for (const entry of fs.readdirSync(tmp)) {
      if (entry !== 'original') fs.renameSync(path.join(tmp, entry), path.join(original, entry));
    }
    fs.renameSync(original, moved);
    store = Store.open(moved);
    await expect(store.verifyArtifact(record.id)).resolves.toMatchObject({ sha256: SHA256_ABC });
  });
});
