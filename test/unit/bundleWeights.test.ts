/**
 * Run bundles sized for shipping: `weights: 'none'` or a list of the runs that keep theirs. The runs left without
 * weights travel with every row, are named "without weights" in the manifest (each left-out file with its hash)
 * and in their imported row; what does travel is still hash-checked, and a bad manifest leaves the store as it was.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { unzipSync, zipSync, type Zippable } from 'fflate';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isWithoutWeights } from '../../src-shared/bundle.ts';
import { fileRoleOf } from '../../src-main/store/bundleFiles.ts';
import { exportBundle, importBundle, parseWeightsChoice } from '../../src-main/store/bundle.ts';
import { Store } from '../../src-main/store/index.ts';
import { FakeClock, makeTempDir, removeDir } from './store.helpers.ts';

const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const HOOK = 'blocks.0.hook_resid_pre';

let tmp: string;
let clock: FakeClock;
let src: Store;
const open: Store[] = [];

function openStore(name: string): Store {
  const s = Store.open(path.join(tmp, name), { now: clock.now, appVersion: '0.1.0' });
  open.push(s);
  return s;
}

async function file(store: Store, runId: string, name: string, data: Buffer, kind?: string) {
  const abs = store.artifactPath(runId, name);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  fs.writeFileSync(abs, data);
  if (kind) await store.registerArtifact({ runId, kind, name });
}

function finish(store: Store, id: string, summary: unknown = {}) {
  store.startRun(id, { backend: 'wasm' });
  clock.advance(5);
  store.finishRun(id, summary);
  clock.advance(1);
}

/** An SAE run (best checkpoint, SAELens folder, resume state) and a SCALAR run on it (KL, edge scores, done). */
async function seed(store: Store) {
  const sae = store.createRun({
    kind: 'sae',
    name: 'topk',
    config: { kind: 'train-sae', config: { lm: 'resources:ascii-64x4-brown', arch: 'topk' } },
  });
  await file(store, sae.id, 'best/tblock.safetensors', randomBytes(2048));
  await file(store, sae.id, `saes/${HOOK}/sae_weights.safetensors`, randomBytes(1024), 'sae');
  await file(store, sae.id, `saes/${HOOK}/cfg.json`, Buffer.from('{"d_in":16}'));
  await file(store, sae.id, 'state.safetensors', randomBytes(4096), 'checkpoint');
  store.recordMetrics(sae.id, 100, HOOK, { l0: 4, explained_variance: 0.9 });
  finish(store, sae.id, { saes: [{ hook: HOOK }] });
  const scalar = store.createRun({
    kind: 'scalar',
    parentId: sae.id,
    config: { kind: 'scalar', config: { sae: sae.id } },
  });
  await file(store, scalar.id, 'pair0/kl.safetensors', randomBytes(512), 'scalar');
  await file(store, scalar.id, 'pair0/edge_scores.safetensors', randomBytes(768), 'scalar');
  await file(store, scalar.id, 'pair0/done.safetensors', randomBytes(256));
  await file(store, scalar.id, 'report.json', Buffer.from('{"ok":true}'), 'report');
  store.recordScalarCurve(scalar.id, 'tblock:0', 'model', [{ n: 1, mean: 0.5, lo: 0.25, hi: 0.75 }]);
  store.recordEdges(scalar.id, 'tblock:0', { i: [3, 1], j: [0, 5], score: [0.9, 0.4] });
  finish(store, scalar.id, { scalar_auc_abs: 1.5 });
  return { sae: sae.id, scalar: scalar.id };
}

function filesIn(dir: string, rel = ''): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const r = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? filesIn(path.join(dir, e.name), r) : [r];
  });
}

function manifestOf(zip: string) {
  return JSON.parse(Buffer.from(unzipSync(fs.readFileSync(zip))['manifest.json']).toString()) as {
    runs: {
      id: string;
      filesLeftOut: { path: string; bytes: number; sha256: string; role: string }[];
      keptEdges?: number;
    }[];
    files: { path: string }[];
  };
}

beforeEach(() => {
  tmp = makeTempDir('scalar-bundle-weights-');
  clock = new FakeClock();
  src = openStore('src');
});
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  removeDir(tmp);
});

describe('which files of a run travel', () => {
  it('sorts a run folder into resume state, weights, exports and records', () => {
    expect(fileRoleOf('state.safetensors')).toBe('resume');
    expect(fileRoleOf('pair3/done.safetensors')).toBe('resume');
    expect(fileRoleOf('best/tblock.safetensors')).toBe('weights');
    expect(fileRoleOf('best/config.json')).toBe('weights');
    expect(fileRoleOf('pair0/kl.safetensors')).toBe('weights');
    expect(fileRoleOf(`saes/${HOOK}/cfg.json`)).toBe('exports');
    expect(fileRoleOf(`saes/${HOOK}/sae_weights.safetensors`)).toBe('exports');
    expect(fileRoleOf('pair0/edge_scores.safetensors')).toBe('exports');
    expect(fileRoleOf('report.json')).toBe('record');
    expect(fileRoleOf('report.md')).toBe('record');
  });

  it('parses --weights: all, none, or run ids (comma-separated or repeated)', () => {
    expect(parseWeightsChoice(undefined)).toBe('all');
    expect(parseWeightsChoice(['none'])).toBe('none');
    expect(parseWeightsChoice(['a,b', 'c', 'a'])).toEqual(['a', 'b', 'c']);
    expect(() => parseWeightsChoice(['all,a'])).toThrow(/not a mix/);
  });
});

describe("exportBundle({ weights: 'none' }) + importBundle", () => {
  it('carries every row and the records but no weights; the imported runs say so, with the left-out hashes', async () => {
    const ids = await seed(src);
    const zip = path.join(tmp, 'none.zip');
    const res = await exportBundle(src, [ids.scalar], zip, { withDeps: true, weights: 'none' });
    expect(res.leftOut.weights).toMatchObject({ files: 5, runs: 2 });
    expect(res.leftOut.exports).toMatchObject({ files: 0, runs: 0 });
    expect(res.leftOut.resume).toMatchObject({ files: 2, runs: 2 });

    const entries = Object.keys(unzipSync(fs.readFileSync(zip)));
    expect(entries.filter((e) => e.includes('/files/'))).toEqual([`runs/${ids.scalar}/files/report.json`]);
    const manifest = manifestOf(zip);
    const sae = manifest.runs.find((r) => r.id === ids.sae)!;
    expect(sae.filesLeftOut.map((f) => [f.path, f.role])).toEqual([
      ['best/tblock.safetensors', 'weights'],
      [`saes/${HOOK}/cfg.json`, 'weights'],
      [`saes/${HOOK}/sae_weights.safetensors`, 'weights'],
      ['state.safetensors', 'resume'],
    ]);
    for (const f of sae.filesLeftOut) {
      const data = fs.readFileSync(src.artifactPath(ids.sae, f.path));
      expect([f.sha256, f.bytes]).toEqual([sha(data), data.length]);
    }

    const dst = openStore('dst');
    expect((await importBundle(dst, zip)).imported).toEqual([ids.sae, ids.scalar]);
    for (const id of [ids.sae, ids.scalar]) {
      const run = dst.requireRun(id);
      expect(isWithoutWeights(run), id).toBe(true);
      expect(run.filesLeftOut).toEqual(manifest.runs.find((r) => r.id === id)!.filesLeftOut);
    }
    // Rows are all there; artifacts rows only for files that are.
    expect(dst.getMetricSeries(ids.sae, 'l0', HOOK).map((p) => p.value)).toEqual([4]);
    expect(dst.getEdges(ids.scalar, 'tblock:0')).toHaveLength(2);
    expect(dst.listArtifacts(ids.sae)).toEqual([]);
    expect(dst.listArtifacts(ids.scalar).map((a) => a.name)).toEqual(['report.json']);
    expect(filesIn(path.join(dst.dataDir, 'artifacts', ids.scalar))).toEqual(['report.json']);
    expect(fs.existsSync(path.join(dst.dataDir, 'artifacts', ids.sae))).toBe(false);
  });

  it('keeps the weights of the runs named, and of no other', async () => {
    const ids = await seed(src);
    const zip = path.join(tmp, 'some.zip');
    await exportBundle(src, [ids.scalar], zip, { withDeps: true, weights: [ids.sae] });
    const dst = openStore('dst');
    await importBundle(dst, zip);
    expect(isWithoutWeights(dst.requireRun(ids.sae))).toBe(false);
    expect(isWithoutWeights(dst.requireRun(ids.scalar))).toBe(true);
    expect(filesIn(path.join(dst.dataDir, 'artifacts', ids.sae)).sort()).toEqual([
      'best/tblock.safetensors',
      `saes/${HOOK}/cfg.json`,
      `saes/${HOOK}/sae_weights.safetensors`,
    ]);
    // The SAE lacks only its resume state, which does not make it a run without weights.
    expect(dst.requireRun(ids.sae).filesLeftOut.map((f) => f.role)).toEqual(['resume']);
  });

  it('--without-exports keeps what the app computes with (best/, per-token KL) and drops the copies', async () => {
    const ids = await seed(src);
    const zip = path.join(tmp, 'lean.zip');
    const res = await exportBundle(src, [ids.scalar], zip, { withDeps: true, withoutExports: true });
    expect(res.leftOut.weights.files).toBe(0);
    const dst = openStore('dst');
    await importBundle(dst, zip);
    expect(filesIn(path.join(dst.dataDir, 'artifacts', ids.sae))).toEqual(['best/tblock.safetensors']);
    expect(filesIn(path.join(dst.dataDir, 'artifacts', ids.scalar)).sort()).toEqual([
      'pair0/kl.safetensors',
      'report.json',
    ]);
    for (const id of [ids.sae, ids.scalar]) expect(isWithoutWeights(dst.requireRun(id))).toBe(false);
    expect(
      dst
        .listArtifacts(ids.scalar)
        .map((a) => a.name)
        .sort(),
    ).toEqual(['pair0/kl.safetensors', 'report.json']);
  });

  it('--max-edges carries the top edges of each pair only (recorded per run); --without-exports drops the CSV copies', async () => {
    const ids = await seed(src);
    const zip = path.join(tmp, 'trim.zip');
    await exportBundle(src, [ids.scalar], zip, { withDeps: true, maxEdges: 1, withoutExports: true });
    const entries = Object.keys(unzipSync(fs.readFileSync(zip)));
    expect(entries.filter((e) => e.endsWith('.csv'))).toEqual([]);
    const manifest = manifestOf(zip);
    expect(manifest.runs.map((r) => r.keptEdges)).toEqual([undefined, 1]);
    const dst = openStore('dst');
    await importBundle(dst, zip);
    expect(dst.getEdges(ids.scalar, 'tblock:0')).toEqual([{ rank: 0, i: 3, j: 0, score: 0.9 }]);
    expect(dst.getScalarCurves(ids.scalar)).toHaveLength(1);
  });

  it('a run imported without weights stays so in later bundles; naming it in --weights is refused', async () => {
    const ids = await seed(src);
    const first = path.join(tmp, 'first.zip');
    await exportBundle(src, [ids.scalar], first, { withDeps: true, weights: 'none' });
    const mid = openStore('mid');
    await importBundle(mid, first);

    const refused = path.join(tmp, 'refused.zip');
    await expect(exportBundle(mid, [ids.sae], refused, { weights: [ids.sae] })).rejects.toMatchObject({
      code: 'WITHOUT_WEIGHTS',
      message: expect.stringContaining(`run ${ids.sae} was imported without its weights`),
    });
    expect(fs.existsSync(refused)).toBe(false);
    await expect(exportBundle(mid, [ids.sae], refused, { weights: ['sae-x'] })).rejects.toMatchObject({
      code: 'RUN_NOT_FOUND',
    });

    const again = path.join(tmp, 'again.zip');
    const res = await exportBundle(mid, [ids.scalar], again, { withDeps: true });
    expect(res.warnings).toContain(
      `run ${ids.sae} was imported without its weights; it travels without them (records only)`,
    );
    const last = openStore('last');
    await importBundle(last, again);
    expect(last.requireRun(ids.sae).filesLeftOut).toEqual(mid.requireRun(ids.sae).filesLeftOut);
    expect(isWithoutWeights(last.requireRun(ids.scalar))).toBe(true);
  });
});

describe('importing a bundle without weights checks what travels', () => {
  async function rebuilt(zip: string, edit: (entries: Record<string, Uint8Array>) => void): Promise<string> {
    const entries = unzipSync(fs.readFileSync(zip));
    edit(entries);
    const out = path.join(tmp, `edited-${randomBytes(3).toString('hex')}.zip`);
    fs.writeFileSync(out, zipSync(entries as Zippable));
    return out;
  }

  it('refuses an altered table, a manifest that both carries and leaves out a file, and an unsafe name', async () => {
    const ids = await seed(src);
    const zip = path.join(tmp, 'none.zip');
    await exportBundle(src, [ids.scalar], zip, { withDeps: true, weights: 'none' });
    const dst = openStore('dst');
    const rowsBefore = dst.db.prepare('SELECT COUNT(*) AS n FROM runs').get();

    const tampered = await rebuilt(zip, (e) => {
      const p = `runs/${ids.scalar}/tables/edges.json`;
      e[p] = Buffer.from(Buffer.from(e[p]).toString().replace('0.9', '0.8'));
    });
    await expect(importBundle(dst, tampered)).rejects.toMatchObject({ code: 'HASH_MISMATCH' });

    for (const [leftPath, why] of [
      ['report.json', 'but the bundle carries that file'],
      ['../escape.safetensors', 'not a safe file name'],
    ]) {
      const bad = await rebuilt(zip, (e) => {
        const m = JSON.parse(Buffer.from(e['manifest.json']).toString());
        m.runs
          .find((r: { id: string }) => r.id === ids.scalar)
          .filesLeftOut.push({
            path: leftPath,
            bytes: 1,
            sha256: 'ab'.repeat(32),
            role: 'weights',
          });
        e['manifest.json'] = Buffer.from(JSON.stringify(m));
      });
      await expect(importBundle(dst, bad)).rejects.toMatchObject({
        code: 'BAD_MANIFEST',
        message: expect.stringContaining(why),
      });
    }
    expect(dst.db.prepare('SELECT COUNT(*) AS n FROM runs').get()).toEqual(rowsBefore);
    expect(filesIn(path.join(dst.dataDir, 'artifacts'))).toEqual([]);
  });
});
