/**
 * Run bundles: round trip into a fresh data dir (rows compared with the source database, file hashes computed
 * here with node:crypto), re-import, dependencies, and hand-made hostile or broken archives, each refused with
 * its own message and the target store left exactly as it was (every table's rows and every file).
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { strToU8, unzipSync, zipSync, type Zippable } from 'fflate';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { exportBundle, importBundle, runDependencies } from '../../src-main/store/bundle.ts';
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

async function artifact(store: Store, runId: string, kind: string, name: string, data: Buffer | string) {
  const file = store.artifactPath(runId, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, data);
  return store.registerArtifact({ runId, kind, name, meta: { note: 'x' } });
}

function finish(store: Store, id: string, summary: unknown) {
  store.startRun(id, { backend: 'wasm' });
  clock.advance(30);
  store.finishRun(id, summary);
  clock.advance(1);
}

/** LM → SAE (SAELens folder) → SCALAR, plus a second SCALAR run as a comparison baseline. */
async function seed(store: Store) {
  const lm = store.createRun({
    kind: 'lm',
    name: 'toy lm',
    seed: 1,
    config: { kind: 'train-lm', config: {} },
  });
  clock.advance(1);
  store.recordMetrics(lm.id, 10, '', { train_loss: 2.5, val_loss: 2.25 });
  store.recordMetrics(lm.id, 20, '', { train_loss: 2.0, val_loss: Number.NaN });
  await artifact(store, lm.id, 'best', 'best/model.safetensors', randomBytes(3000));
  fs.writeFileSync(path.join(store.artifactPath(lm.id, 'best'), 'config.json'), '{"n_layer":2}\n'); // unregistered
  finish(store, lm.id, { valLoss: 2.25 });

  const sae = store.createRun({
    kind: 'sae',
    name: 'staircase',
    parentId: lm.id,
    seed: 3,
    config: { kind: 'train-sae', config: { lm: lm.id, arch: 'staircase' } },
  });
  await artifact(store, sae.id, 'sae', `saes/${HOOK}/sae_weights.safetensors`, randomBytes(4096));
  fs.writeFileSync(
    store.artifactPath(sae.id, `saes/${HOOK}/cfg.json`),
    JSON.stringify({ d_in: 16, hook_name: HOOK }),
  );
  await artifact(store, sae.id, 'checkpoint', 'state.safetensors', randomBytes(500));
  store.recordMetrics(sae.id, 100, HOOK, { l0: 4, mse: 0.125, explained_variance: 0.9 });
  finish(store, sae.id, { l0: 4 });

  const scalar = store.createRun({
    kind: 'scalar',
    parentId: sae.id,
    config: { kind: 'scalar', config: { sae: sae.id } },
  });
  clock.advance(1);
  const base = store.createRun({
    kind: 'scalar',
    parentId: sae.id,
    config: { kind: 'scalar', config: { sae: sae.id } },
  });
  for (const id of [scalar.id, base.id]) {
    store.recordScalarCurve(id, 'tblock:0', 'model', [
      { n: 1, mean: 0.5, lo: 0.25, hi: 0.75 },
      { n: 4, mean: 0.125, lo: 0.0625, hi: 0.1875 },
    ]);
    store.recordEdges(id, 'tblock:0', { i: [3, 1, 2], j: [0, 5, 5], score: [0.9, 0.4, -0.1] });
    store.recordMetrics(id, 0, '', { scalar_auc_abs: 1.5 });
    await artifact(store, id, 'scalar', 'pair0/kl.safetensors', randomBytes(777));
    finish(store, id, { scalar_auc_abs: 1.5 });
  }
  store.recordComparisons([
    {
      runId: scalar.id,
      baselineRunId: base.id,
      setup: 'tblock',
      pair: 'tblock:0',
      metric: 'red',
      value: 12.5,
      meta: { a: 1 },
    },
  ]);
  store.db
    .prepare('INSERT INTO latent_stats (run_id, hook, latent, key, value) VALUES (?, ?, ?, ?, ?)')
    .run(sae.id, HOOK, 7, 'max_act', Number.POSITIVE_INFINITY);
  const labelAt = clock.now().toISOString();
  store.db
    .prepare('INSERT INTO labels (run_id, hook, latent, text, updated_at) VALUES (?, ?, ?, ?, ?)')
    .run(sae.id, HOOK, 7, 'fires on "quotes", commas\nand newlines', labelAt);
  return { lm: lm.id, sae: sae.id, scalar: scalar.id, base: base.id, labelAt };
}

function tablesWithRunId(store: Store): string[] {
  return (
    store.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as {
      name: string;
    }[]
  )
    .map((r) => r.name)
    .filter((t) =>
      (store.db.prepare('SELECT name FROM pragma_table_info(?)').all(t) as { name: string }[]).some(
        (c) => c.name === 'run_id',
      ),
    );
}

/** Every row of a run in every table, without rowid-alias ids (a new database assigns its own). */
function rowsOf(store: Store, runId: string): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {
    runs: store.db.prepare('SELECT * FROM runs WHERE id = ?').all(runId),
  };
  for (const t of tablesWithRunId(store)) {
    const rows = store.db.prepare(`SELECT * FROM ${t} WHERE run_id = ?`).all(runId) as Record<
      string,
      unknown
    >[];
    out[t] = rows
      .map(({ id: _id, ...rest }) => rest)
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  }
  return out;
}

/**
 * rowsOf a source run as it arrives when its bundle leaves `lacking` out (a completed run's resume state): no
 * artifact rows for those files, and the runs row naming them with their hashes.
 */
function rowsArriving(store: Store, runId: string, lacking: { path: string; role: string }[]) {
  const rows = rowsOf(store, runId);
  const names = new Set(lacking.map((l) => l.path));
  rows.artifacts = rows.artifacts.filter((a) => !names.has((a as { name: string }).name));
  const leftOut = lacking.map((l) => {
    const data = fs.readFileSync(store.artifactPath(runId, l.path));
    return { path: l.path, bytes: data.length, sha256: sha(data), role: l.role };
  });
  (rows.runs[0] as Record<string, unknown>).files_left_out_json = leftOut.length
    ? JSON.stringify(leftOut)
    : null;
  return rows;
}
const RESUME_STATE = [{ path: 'state.safetensors', role: 'resume' }];

function listFiles(dir: string, rel = ''): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) return [`${r}/`, ...listFiles(path.join(dir, e.name), r)];
    return [`${r} ${sha(fs.readFileSync(path.join(dir, e.name)))}`];
  });
}

/** Row counts of every table plus every file (with its hash) outside the database files. */
function snapshot(store: Store) {
  const tables = (
    store.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as {
      name: string;
    }[]
  ).map((r) => r.name);
  const rows = Object.fromEntries(tables.map((t) => [t, store.db.prepare(`SELECT * FROM ${t}`).all()]));
  const files = listFiles(store.dataDir).filter((f) => !f.startsWith('scalar.db'));
  return { rows, files };
}

beforeEach(() => {
  tmp = makeTempDir('scalar-bundle-');
  clock = new FakeClock();
  src = openStore('src');
});
afterEach(() => {
  vi.restoreAllMocks();
  for (const s of open.splice(0)) s.close();
  removeDir(tmp);
});

describe('exportBundle + importBundle', () => {
  it('round-trips runs into a fresh data dir: identical rows, identical files, artifact rows pointing at them', async () => {
    const ids = await seed(src);
    const zip = path.join(tmp, 'out', 'b.zip');
    const res = await exportBundle(src, [ids.scalar, ids.base], zip, { withDeps: true, appVersion: '9.9.9' });
    expect(res.runs).toEqual([ids.lm, ids.sae, ids.scalar, ids.base]);
    expect(res.bytes).toBe(fs.statSync(zip).size);
    expect(res.warnings).toEqual([]);

    // The archive as any zip reader sees it.
    const entries = unzipSync(fs.readFileSync(zip));
    const manifest = JSON.parse(Buffer.from(entries['manifest.json']).toString());
    expect(manifest.bundleSchemaVersion).toBe(1);
    expect(manifest.appVersion).toBe('9.9.9');
    expect(manifest.lineage.requested).toEqual([ids.scalar, ids.base]);
    expect(manifest.lineage.dependencies).toEqual([ids.lm, ids.sae]);
    expect(Object.keys(entries).sort()).toEqual(
      ['manifest.json', ...manifest.files.map((f: { path: string }) => f.path)].sort(),
    );
    for (const f of manifest.files) {
      expect(sha(entries[f.path]), f.path).toBe(f.sha256);
      expect(entries[f.path].length).toBe(f.bytes);
    }
    const saeDir = `runs/${ids.sae}/files/saes/${HOOK}`;
    expect(JSON.parse(Buffer.from(entries[`${saeDir}/cfg.json`]).toString()).hook_name).toBe(HOOK);
    expect(sha(entries[`${saeDir}/sae_weights.safetensors`])).toBe(
      sha(fs.readFileSync(src.artifactPath(ids.sae, `saes/${HOOK}/sae_weights.safetensors`))),
    );
    const csv = Buffer.from(entries[`runs/${ids.sae}/tables/labels.csv`]).toString();
    expect(csv).toBe(
      `run_id,hook,latent,text,updated_at\r\n${ids.sae},${HOOK},7,"fires on ""quotes"", commas\nand newlines",${ids.labelAt}\r\n`,
    );

    const dst = openStore('dst');
    const imp = await importBundle(dst, zip);
    expect(imp).toEqual({ imported: [ids.lm, ids.sae, ids.scalar, ids.base], skipped: [], warnings: [] });
    for (const id of [ids.lm, ids.sae, ids.scalar, ids.base]) {
      // The completed SAE run's resume state stays home (nothing reads it once a run finished), named in its row.
      const lacking = id === ids.sae ? RESUME_STATE : [];
      expect(rowsOf(dst, id), id).toEqual(rowsArriving(src, id, lacking));
      expect(listFiles(path.join(dst.dataDir, 'artifacts', id))).toEqual(
        listFiles(path.join(src.dataDir, 'artifacts', id)).filter((f) => !f.startsWith('state.safetensors ')),
      );
      for (const a of dst.listArtifacts(id)) {
        expect(a.path).toBe(`artifacts/${id}/${a.name}`);
        expect(sha(fs.readFileSync(path.join(dst.dataDir, a.path)))).toBe(a.sha256);
        await expect(dst.verifyArtifact(a.id)).resolves.toBeTruthy();
      }
    }
    // Spot checks against hand-known values, not only against the source.
    expect(dst.getMetricSeries(ids.lm, 'val_loss').map((p) => p.value)).toEqual([2.25, Number.NaN]);
    expect(dst.getEdges(ids.scalar, 'tblock:0')).toEqual([
      { rank: 0, i: 3, j: 0, score: 0.9 },
      { rank: 1, i: 1, j: 5, score: 0.4 },
      { rank: 2, i: 2, j: 5, score: -0.1 },
    ]);
    expect(dst.db.prepare('SELECT value FROM latent_stats').get()).toEqual({
      value: Number.POSITIVE_INFINITY,
    });
    expect(dst.getComparisons(ids.scalar)[0]).toMatchObject({
      baselineRunId: ids.base,
      value: 12.5,
      meta: { a: 1 },
    });
    expect(fs.readdirSync(dst.dataDir).filter((n) => n.startsWith('.bundle-import-'))).toEqual([]);
  });

  it('skips runs that are already present on a second import and changes nothing', async () => {
    const ids = await seed(src);
    const zip = path.join(tmp, 'b.zip');
    await exportBundle(src, [ids.sae], zip, { withDeps: true });
    const dst = openStore('dst');
    expect((await importBundle(dst, zip)).imported).toEqual([ids.lm, ids.sae]);
    const before = snapshot(dst);
    expect(await importBundle(dst, zip)).toEqual({
      imported: [],
      skipped: [
        { id: ids.lm, reason: 'already present' },
        { id: ids.sae, reason: 'already present' },
      ],
      warnings: [],
    });
    expect(snapshot(dst)).toEqual(before);
  });

  it('--with-deps pulls in ancestors and config dependencies; a pipeline brings its children', async () => {
    const ids = await seed(src);
    const pipe = src.createRun({ kind: 'pipeline', config: { lm: 'resources:ascii-64x4-brown' } });
    const child = src.createRun({
      kind: 'sae',
      parentId: pipe.id,
      config: { kind: 'train-sae', config: { lm: ids.lm } },
    });
    const sib = src.createRun({
      kind: 'scalar',
      parentId: pipe.id,
      config: { kind: 'scalar', config: { sae: child.id } },
    });
    for (const id of [child.id, sib.id, pipe.id]) finish(src, id, {});
    expect(runDependencies(src, src.requireRun(child.id)).links.map((l) => [l.dependsOn, l.via])).toEqual([
      [pipe.id, 'parent'],
      [ids.lm, 'lm'],
    ]);
    const zip = path.join(tmp, 'p.zip');
    const res = await exportBundle(src, [sib.id], zip, { withDeps: true });
    expect(new Set(res.runs)).toEqual(new Set([sib.id, pipe.id, child.id, ids.lm]));
    expect(res.runs.indexOf(ids.lm)).toBeLessThan(res.runs.indexOf(child.id));
    expect(res.runs.indexOf(pipe.id)).toBeLessThan(res.runs.indexOf(sib.id));
    const manifest = JSON.parse(Buffer.from(unzipSync(fs.readFileSync(zip))['manifest.json']).toString());
    expect(manifest.lineage.external).toEqual([
      { runId: pipe.id, ref: 'resources:ascii-64x4-brown', via: 'lm' },
    ]);
    const dst = openStore('dst');
    expect(new Set((await importBundle(dst, zip)).imported)).toEqual(new Set(res.runs));
  });

  it('refuses a run whose parent is neither bundled nor present, and imports it once the parent is there', async () => {
    const ids = await seed(src);
    const saeZip = path.join(tmp, 'sae.zip');
    expect((await exportBundle(src, [ids.sae], saeZip)).runs).toEqual([ids.sae]);
    const dst = openStore('dst');
    const before = snapshot(dst);
    await expect(importBundle(dst, saeZip)).rejects.toMatchObject({
      code: 'MISSING_DEPENDENCY',
      message: expect.stringMatching(
        new RegExp(`run ${ids.sae} needs run ${ids.lm} \\(its parent run\\).*--with-deps`),
      ),
    });
    expect(snapshot(dst)).toEqual(before);
    const lmZip = path.join(tmp, 'lm.zip');
    await exportBundle(src, [ids.lm], lmZip);
    expect((await importBundle(dst, lmZip)).imported).toEqual([ids.lm]);
    expect((await importBundle(dst, saeZip)).imported).toEqual([ids.sae]);
    expect(rowsOf(dst, ids.sae)).toEqual(rowsArriving(src, ids.sae, RESUME_STATE));
  });

  it('treats a resources: language model as no dependency', async () => {
    const sae = src.createRun({
      kind: 'sae',
      config: { kind: 'train-sae', config: { lm: 'resources:ascii-64x4-brown' } },
    });
    finish(src, sae.id, {});
    const zip = path.join(tmp, 'r.zip');
    await exportBundle(src, [sae.id], zip);
    expect((await importBundle(openStore('dst'), zip)).imported).toEqual([sae.id]);
  });

  it('refuses to export queued or running runs, and unknown ones, leaving no file', async () => {
    const queued = src.createRun({ kind: 'lm' });
    const zip = path.join(tmp, 'q.zip');
    await expect(exportBundle(src, [queued.id], zip)).rejects.toMatchObject({
      code: 'RUN_ACTIVE',
      message: expect.stringContaining(`run ${queued.id} (queued)`),
    });
    src.startRun(queued.id);
    await expect(exportBundle(src, [queued.id], zip)).rejects.toThrow(/\(running\).*finished or cancel/);
    await expect(exportBundle(src, ['lm-nope'], zip)).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' });
    expect(fs.readdirSync(tmp).filter((n) => n.startsWith('q.zip'))).toEqual([]);
  });

  it('carries columns and tables added by later migrations, and imports into a store without them', async () => {
    const ids = await seed(src);
    const future = `ALTER TABLE runs ADD COLUMN x_future TEXT;
      CREATE TABLE x_future_tags (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, tag TEXT NOT NULL);`;
    src.db.exec(future);
    src.db.prepare('UPDATE runs SET x_future = ? WHERE id = ?').run('baseline LM', ids.lm);
    src.db.prepare('INSERT INTO x_future_tags VALUES (?, ?), (?, ?)').run(ids.lm, 'paper', ids.lm, 'toy');
    // The schema's own tags and notes, where this version of the schema has them.
    const hasTags = src.db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'run_tags'`).get() !== undefined;
    if (hasTags) src.db.prepare('INSERT INTO run_tags (run_id, tag) VALUES (?, ?)').run(ids.lm, 'favourite');
    const zip = path.join(tmp, 'n.zip');
    await exportBundle(src, [ids.lm], zip);

    const withCols = openStore('dst1');
    withCols.db.exec(future);
    expect((await importBundle(withCols, zip)).warnings).toEqual([]);
    expect(withCols.db.prepare('SELECT x_future FROM runs').get()).toEqual({ x_future: 'baseline LM' });
    expect(withCols.db.prepare('SELECT tag FROM x_future_tags ORDER BY tag').all()).toEqual([
      { tag: 'paper' },
      { tag: 'toy' },
    ]);
    if (hasTags)
      expect(withCols.db.prepare('SELECT tag FROM run_tags').all()).toEqual([{ tag: 'favourite' }]);
    expect(rowsOf(withCols, ids.lm)).toEqual(rowsOf(src, ids.lm));

    const without = openStore('dst2');
    const res = await importBundle(without, zip);
    expect(res.imported).toEqual([ids.lm]);
    expect(res.warnings).toEqual([
      `run ${ids.lm}: column(s) runs.x_future are not in this data dir; left out`,
      `run ${ids.lm}: this data dir has no run table 'x_future_tags'; its 2 row(s) were not imported`,
    ]);
  });

  it('leaves out rows that refer to runs absent from the target (a comparison baseline)', async () => {
    const ids = await seed(src);
    const zip = path.join(tmp, 'c.zip');
    await exportBundle(src, [ids.scalar], zip, { withDeps: true });
    const dst = openStore('dst');
    const res = await importBundle(dst, zip);
    expect(res.warnings).toEqual([
      `run ${ids.scalar}: 1 comparisons row(s) refer to runs that are not in this data dir; left out`,
    ]);
    expect(dst.getComparisons(ids.scalar)).toEqual([]);
  });

  it('carries an artifact rewritten after it was recorded, with a warning and the row matching the file', async () => {
    const ids = await seed(src);
    const name = `saes/${HOOK}/sae_weights.safetensors`;
    const now = randomBytes(640);
    fs.writeFileSync(src.artifactPath(ids.sae, name), now);
    const zip = path.join(tmp, 'w.zip');
    const res = await exportBundle(src, [ids.sae], zip, { withDeps: true });
    expect(res.warnings).toEqual([
      `artifact sae/${name} of run ${ids.sae} was rewritten after it was recorded; bundled as it is now (sha256 ${sha(now)})`,
    ]);
    const dst = openStore('dst');
    await importBundle(dst, zip);
    const a = dst.getArtifact({ runId: ids.sae, kind: 'sae', name })!;
    expect([a.sha256, a.bytes]).toEqual([sha(now), 640]);
  });

  it('puts everything back when the last step (moving folders into place) fails', async () => {
    const ids = await seed(src);
    const zip = path.join(tmp, 'f.zip');
    await exportBundle(src, [ids.sae], zip, { withDeps: true });
    const dst = openStore('dst');
    const before = snapshot(dst);
    const real = fs.renameSync;
    let calls = 0;
    vi.spyOn(fs, 'renameSync').mockImplementation((from, to) => {
      if (++calls === 2) throw new Error('EIO: simulated');
      real(from, to);
    });
    await expect(importBundle(dst, zip)).rejects.toMatchObject({
      code: 'IMPORT_FAILED',
      message: expect.stringContaining('simulated; nothing was changed'),
    });
    vi.restoreAllMocks();
    expect(snapshot(dst)).toEqual(before);
    expect((await importBundle(dst, zip)).imported).toEqual([ids.lm, ids.sae]);
  });

  it('refuses a data dir that already holds a folder for a run it does not know', async () => {
    const ids = await seed(src);
    const zip = path.join(tmp, 'o.zip');
    await exportBundle(src, [ids.lm], zip);
    const dst = openStore('dst');
    fs.mkdirSync(path.join(dst.dataDir, 'artifacts', ids.lm));
    const before = snapshot(dst);
    await expect(importBundle(dst, zip)).rejects.toMatchObject({ code: 'FOLDER_CONFLICT' });
    expect(snapshot(dst)).toEqual(before);
  });
});

describe('importBundle refuses broken and hostile bundles before writing anything', () => {
  let good: Record<string, Uint8Array>;
  let ids: Awaited<ReturnType<typeof seed>>;
  let dst: Store;

  beforeEach(async () => {
    ids = await seed(src);
    const zip = path.join(tmp, 'good.zip');
    await exportBundle(src, [ids.sae], zip, { withDeps: true });
    good = unzipSync(fs.readFileSync(zip));
    dst = openStore('dst');
    // Something already in the target, so "unchanged" is not trivially an empty store.
    const other = dst.createRun({ kind: 'lm', name: 'resident' });
    await artifact(dst, other.id, 'best', 'best/model.safetensors', 'weights');
  });

  const write = (name: string, data: Uint8Array) => {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, data);
    return file;
  };
  const manifest = () => JSON.parse(Buffer.from(good['manifest.json']).toString());
  const withManifest = (m: unknown, files: Zippable = good) =>
    zipSync({ ...files, 'manifest.json': strToU8(JSON.stringify(m)) });

  async function refused(file: string, code: string, message: string | RegExp) {
    const before = snapshot(dst);
    const err = await importBundle(dst, file).then(
      () => null,
      (e: Error & { code: string }) => e,
    );
    expect(err, `${code} expected`).not.toBeNull();
    expect(err!.code).toBe(code);
    if (typeof message === 'string') expect(err!.message).toContain(message);
    else expect(err!.message).toMatch(message);
    expect(snapshot(dst)).toEqual(before);
  }

  it('entries that would escape the folder: ../, absolute, drive letters, backslashes', async () => {
    const cases: [string, string][] = [
      ['../evil', "'..' would climb out"],
      ['runs/../../evil', "'..' would climb out"],
      ['/etc/evil', 'it is an absolute path'],
      ['C:/evil', 'it is an absolute path'],
      ['runs\\evil', 'it contains a backslash'],
    ];
    for (const [name, why] of cases) {
      await refused(
        write('bad.zip', zipSync({ ...good, [name]: strToU8('x') })),
        'UNSAFE_ENTRY',
        `bundle entry ${JSON.stringify(name)} is unsafe: ${why}`,
      );
    }
  });

  it('a symbolic link entry', async () => {
    const link: Zippable = {
      ...good,
      'runs/link': [strToU8('/etc/passwd'), { os: 3, attrs: (0o120777 << 16) >>> 0 }],
    };
    await refused(
      write('link.zip', zipSync(link)),
      'UNSAFE_ENTRY',
      'bundle entry "runs/link" is a symbolic link',
    );
  });

  it('a file whose bytes do not match its manifest hash', async () => {
    const p = `runs/${ids.sae}/files/saes/${HOOK}/sae_weights.safetensors`;
    const altered = Uint8Array.from(good[p]);
    altered[100] ^= 0xff;
    await refused(
      write('hash.zip', zipSync({ ...good, [p]: altered })),
      'HASH_MISMATCH',
      `${p} in the bundle does not match its manifest (sha256 ${sha(altered)}`,
    );
  });

  it('a listed file that is missing, and an unlisted extra file', async () => {
    const p = `runs/${ids.lm}/files/best/config.json`;
    const { [p]: _gone, ...rest } = good;
    await refused(
      write('missing.zip', zipSync(rest)),
      'MISSING_FILE',
      `bundle is missing ${p}, which its manifest lists`,
    );
    await refused(
      write('extra.zip', zipSync({ ...good, [`runs/${ids.lm}/files/extra.bin`]: strToU8('smuggled') })),
      'EXTRA_FILE',
      `bundle holds runs/${ids.lm}/files/extra.bin, which its manifest does not list`,
    );
  });

  it('an unknown schema version, a malformed manifest and no manifest', async () => {
    await refused(
      write('v7.zip', withManifest({ ...manifest(), bundleSchemaVersion: 7 })),
      'UNSUPPORTED_VERSION',
      'bundle schema version 7 is not supported by this app (knows 1)',
    );
    await refused(
      write('bad.zip', withManifest({ ...manifest(), runs: 'nope' })),
      'BAD_MANIFEST',
      'manifest.json is malformed (runs:',
    );
    const { 'manifest.json': _m, ...rest } = good;
    await refused(write('none.zip', zipSync(rest)), 'NO_MANIFEST', 'bundle has no manifest.json');
  });

  it('a truncated archive and a file that is not a zip', async () => {
    const whole = fs.readFileSync(path.join(tmp, 'good.zip'));
    for (const keep of [whole.length - 1, whole.length - 30, Math.floor(whole.length / 2), 10]) {
      await refused(
        write('cut.zip', whole.subarray(0, keep)),
        'NOT_A_ZIP',
        'bundle is truncated or not a zip file',
      );
    }
    await refused(
      write('text.zip', strToU8('hello, this is not a zip file at all\n')),
      'NOT_A_ZIP',
      'bundle is truncated or not a zip file',
    );
    await refused(
      write('empty.zip', new Uint8Array(0)),
      'NOT_A_ZIP',
      'bundle is truncated or not a zip file',
    );
    await refused(path.join(tmp, 'absent.zip'), 'FILE_NOT_FOUND', 'not found');
  });

  it('damaged compressed data inside an otherwise whole archive', async () => {
    const p = `runs/${ids.sae}/tables/metrics.json`;
    const data = zipSync({ [p]: good[p], ...good }, { level: 6 });
    const bytes = Buffer.from(data);
    // The first entry's deflate data starts right after its 30-byte local header and name.
    const start = 30 + Buffer.byteLength(p) + bytes.readUInt16LE(28);
    for (let i = start + 2; i < start + 12; i++) bytes[i] ^= 0x5a;
    await refused(write('damaged.zip', bytes), 'CORRUPT_ENTRY', /bundle is corrupt: entry .*metrics\.json/);
  });

  it('an artifact row pointing outside its run folder, though every hash matches', async () => {
    const p = `runs/${ids.sae}/tables/artifacts.json`;
    const t = JSON.parse(Buffer.from(good[p]).toString());
    t.rows[0][t.columns.indexOf('path')] = `artifacts/${ids.lm}/best/model.safetensors`;
    const data = strToU8(JSON.stringify(t));
    const m = manifest();
    const f = m.files.find((x: { path: string }) => x.path === p);
    Object.assign(f, { sha256: sha(data), bytes: data.length });
    await refused(
      write('row.zip', withManifest(m, { ...good, [p]: data })),
      'BAD_TABLE',
      `the path is not inside artifacts/${ids.sae}/`,
    );
  });
  it('a table file aimed at a table that is not run-owned is not written', async () => {
    dst.db.exec('CREATE TABLE x_settings (key TEXT PRIMARY KEY, value TEXT, run_id TEXT)');
    const p = `runs/${ids.lm}/tables/x_settings.json`;
    const data = strToU8(
      JSON.stringify({
        table: 'x_settings',
        columns: ['run_id', 'key', 'value'],
        rows: [[ids.lm, 'k', 'v']],
      }),
    );
    const m = manifest();
    m.files.push({ path: p, sha256: sha(data), bytes: data.length });
    const res = await importBundle(dst, write('settings.zip', withManifest(m, { ...good, [p]: data })));
    expect(res.imported).toEqual([ids.lm, ids.sae]);
    expect(res.warnings).toEqual([
      `run ${ids.lm}: this data dir has no run table 'x_settings'; its 1 row(s) were not imported`,
    ]);
    expect(dst.db.prepare('SELECT COUNT(*) AS n FROM x_settings').get()).toEqual({ n: 0 });
  });

  it('a manifest claiming a running run', async () => {
    const m = manifest();
    m.runs[0].status = 'running';
    await refused(
      write('running.zip', withManifest(m)),
      'BAD_MANIFEST',
      `run ${ids.lm} is running in the bundle`,
    );
  });
});
