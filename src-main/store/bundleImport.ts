/**
 * Run bundles, import side. Everything is checked before the store is touched: the archive's directory (safe
 * entry names, no links or folders, no duplicates), the manifest (known schema version), that the entries are
 * exactly the files the manifest lists, and that every run's dependencies are in the bundle or the store.
 * Files are then extracted into a temporary folder inside the data dir and verified (size, CRC-32, sha256);
 * the rows go in in one IMMEDIATE transaction that ends by renaming the run folders into place. Any failure
 * rolls the rows back, moves renamed folders back and removes the temporary folder: the store is left as it was.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { BUNDLE_MANIFEST_FILE, type BundleTable } from '../../src-shared/bundle.ts';
import { runArtifactsDir } from './artifacts.ts';
import { BundleError } from './bundleError.ts';
import {
  IDENTIFIER,
  checkArtifactRows,
  checkRunRow,
  insertTable,
  parseTableJson,
  runTables,
} from './bundleTables.ts';
import { readManifest } from './bundleManifest.ts';
import { ZipFormatError, readZipDirectory, readZipEntry, type ZipEntry } from './bundleZip.ts';
import type { Store } from './index.ts';

export interface ImportResult {
  /** Runs added to the store, dependencies first. */
  imported: string[];
  /** Runs of the bundle left alone, e.g. `{ id, reason: 'already present' }`. */
  skipped: { id: string; reason: string }[];
  /** Data this store could not hold (tables or columns it does not know, references to absent runs). */
  warnings: string[];
}

/** Where an entry belongs: a run's table file or a file of its artifact folder. */
type Slot = { runId: string; table: string; ext: 'json' | 'csv' } | { runId: string; rel: string };

function unsafeName(name: string): string | null {
  if (name.length === 0) return 'it is empty';
  if (name.includes('\0')) return 'it contains a NUL character';
  if (name.includes('\\')) return 'it contains a backslash';
  if (/^[A-Za-z]:/.test(name) || path.posix.isAbsolute(name) || path.win32.isAbsolute(name))
    return 'it is an absolute path';
  for (const segment of name.split('/')) {
    if (segment === '..') return "'..' would climb out of the folder it is extracted to";
    if (segment === '' || segment === '.') return "it has an empty or '.' path segment";
  }
  return null;
}

function slotOf(p: string): Slot | null {
  const m = /^runs\/([^/]+)\/(?:tables\/([^/]+)\.(json|csv)|files\/(.+))$/.exec(p);
  if (!m) return null;
  if (m[2] !== undefined)
    return IDENTIFIER.test(m[2]) ? { runId: m[1], table: m[2], ext: m[3] as 'json' | 'csv' } : null;
  return { runId: m[1], rel: m[4] };
}

function describeVia(via: string): string {
  return via === 'parent' ? 'its parent run' : via === 'lm' ? 'its language model' : 'its SAE run';
}

export async function importBundle(store: Store, zipFile: string): Promise<ImportResult> {
  const file = path.resolve(zipFile);
  let fh: FileHandle;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new BundleError('FILE_NOT_FOUND', `bundle ${file} not found`);
    throw new BundleError('IMPORT_FAILED', `cannot open bundle ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  try {
    return await importFrom(store, fh, file);
  } catch (err) {
    if (err instanceof ZipFormatError) {
      if (err.problem === 'not-zip')
        throw new BundleError('NOT_A_ZIP', `${file}: bundle is truncated or not a zip file (${err.message})`);
      if (err.problem === 'unsupported') throw new BundleError('UNSUPPORTED_ZIP', `${file}: ${err.message}`);
      throw new BundleError('CORRUPT_ENTRY', `${file}: bundle is corrupt: ${err.message}`);
    }
    if (err instanceof BundleError) throw err;
    // File-system trouble while checking or extracting (disk full, names that collide on this file system):
    // the temporary folder is gone and the store untouched.
    throw new BundleError(
      'IMPORT_FAILED',
      `cannot import ${file}: ${(err as Error).message}; nothing was changed`,
      { cause: err },
    );
  } finally {
    await fh.close();
  }
}

async function importFrom(store: Store, fh: FileHandle, file: string): Promise<ImportResult> {
  const stat = await fh.stat();
  if (!stat.isFile())
    throw new BundleError('NOT_A_ZIP', `${file}: bundle is truncated or not a zip file (not a file)`);
  const { entries, dataEnd: cdStart } = await readZipDirectory(fh, stat.size);

  // 1. The archive's own listing.
  const byName = new Map<string, ZipEntry>();
  for (const e of entries) {
    const why = unsafeName(e.name.endsWith('/') ? e.name.slice(0, -1) : e.name);
    if (why)
      throw new BundleError('UNSAFE_ENTRY', `bundle entry ${JSON.stringify(e.name)} is unsafe: ${why}`);
    if (e.directory)
      throw new BundleError(
        'EXTRA_FILE',
        `bundle holds a folder entry ${JSON.stringify(e.name)}, which its manifest does not list`,
      );
    if (e.symlink)
      throw new BundleError(
        'UNSAFE_ENTRY',
        `bundle entry ${JSON.stringify(e.name)} is a symbolic link; bundles hold only regular files`,
      );
    if (byName.has(e.name))
      throw new BundleError('UNSAFE_ENTRY', `bundle holds two entries named ${JSON.stringify(e.name)}`);
    byName.set(e.name, e);
  }

  // 2. The manifest.
  const manifest = await readManifest(fh, byName.get(BUNDLE_MANIFEST_FILE), cdStart);
  const runIds = new Set(manifest.runs.map((r) => r.id));
  const listed = new Map<string, { sha256: string; bytes: number; slot: Slot }>();
  for (const f of manifest.files) {
    const slot = slotOf(f.path);
    if (unsafeName(f.path) || !slot || !runIds.has(slot.runId))
      throw new BundleError(
        'BAD_MANIFEST',
        `manifest.json lists ${JSON.stringify(f.path)}, which is outside the bundle layout`,
      );
    if (listed.has(f.path)) throw new BundleError('BAD_MANIFEST', `manifest.json lists ${f.path} twice`);
    listed.set(f.path, { ...f, slot });
  }
  for (const r of manifest.runs) {
    for (const f of r.filesLeftOut) {
      const why = unsafeName(f.path);
      if (why || listed.has(`runs/${r.id}/files/${f.path}`))
        throw new BundleError(
          'BAD_MANIFEST',
          `manifest.json says run ${r.id} lacks ${JSON.stringify(f.path)}, ` +
            (why ? `which is not a safe file name (${why})` : 'but the bundle carries that file'),
        );
    }
  }
  for (const id of runIds) {
    if (!listed.has(`runs/${id}/tables/runs.json`))
      throw new BundleError(
        'BAD_MANIFEST',
        `manifest.json lists no runs/${id}/tables/runs.json for run ${id}`,
      );
  }

  // 3. Entries are exactly the listed files, with the listed sizes.
  for (const [p, f] of listed) {
    const e = byName.get(p);
    if (!e) throw new BundleError('MISSING_FILE', `bundle is missing ${p}, which its manifest lists`);
    if (e.size !== f.bytes)
      throw new BundleError(
        'HASH_MISMATCH',
        `${p} is ${e.size} bytes in the bundle, but its manifest says ${f.bytes}`,
      );
  }
  for (const name of byName.keys()) {
    if (name !== BUNDLE_MANIFEST_FILE && !listed.has(name))
      throw new BundleError('EXTRA_FILE', `bundle holds ${name}, which its manifest does not list`);
  }

  // 4. What to import, and whether everything it needs will be there.
  const present = (id: string) => store.getRun(id) !== undefined;
  const skipped = manifest.runs
    .filter((r) => present(r.id))
    .map((r) => ({ id: r.id, reason: 'already present' }));
  const toImport = parentsFirst(manifest.runs.filter((r) => !present(r.id)));
  for (const r of toImport) {
    if (r.status === 'queued' || r.status === 'running')
      throw new BundleError(
        'BAD_MANIFEST',
        `run ${r.id} is ${r.status} in the bundle; bundles carry finished runs`,
      );
    const needs = manifest.lineage.links.filter((l) => l.runId === r.id);
    if (r.parentId && !needs.some((l) => l.dependsOn === r.parentId))
      needs.push({ runId: r.id, dependsOn: r.parentId, via: 'parent' });
    for (const l of needs) {
      if (runIds.has(l.dependsOn) || present(l.dependsOn)) continue;
      throw new BundleError(
        'MISSING_DEPENDENCY',
        `run ${r.id} needs run ${l.dependsOn} (${describeVia(l.via)}), which is neither in the bundle nor in ` +
          `${store.dataDir}; export the bundle again with --with-deps, or import ${l.dependsOn} first`,
      );
    }
    const dir = runArtifactsDir(store.dataDir, r.id);
    if (fs.existsSync(dir))
      throw new BundleError(
        'FOLDER_CONFLICT',
        `${dir} already exists although the store has no run ${r.id}; move that folder away and import again`,
      );
  }

  // 5. Extract (runs to import) or just check (runs already present) every listed file.
  const importing = new Set(toImport.map((r) => r.id));
  const temp =
    importing.size > 0 ? fs.mkdtempSync(path.join(store.dataDir, `.bundle-import-${process.pid}-`)) : null;
  try {
    const tableData = new Map<string, Buffer>();
    const ordered = [...listed].sort(
      (a, b) => byName.get(a[0])!.localHeaderOffset - byName.get(b[0])!.localHeaderOffset,
    );
    for (const [p, f] of ordered) {
      const slot = f.slot;
      const hash = createHash('sha256');
      let sink: ((chunk: Uint8Array) => void) | null = null;
      let fd: number | null = null;
      const parts: Uint8Array[] = [];
      if (importing.has(slot.runId) && 'rel' in slot) {
        const out = path.join(temp!, slot.runId, ...slot.rel.split('/'));
        fs.mkdirSync(path.dirname(out), { recursive: true });
        fd = fs.openSync(out, 'wx');
        sink = (chunk) => {
          let done = 0;
          while (done < chunk.length) done += fs.writeSync(fd!, chunk, done);
        };
      } else if (importing.has(slot.runId) && 'table' in slot && slot.ext === 'json') {
        sink = (chunk) => parts.push(chunk);
      }
      try {
        await readZipEntry(fh, byName.get(p)!, cdStart, (chunk) => {
          hash.update(chunk);
          sink?.(chunk);
        });
      } finally {
        if (fd !== null) fs.closeSync(fd);
      }
      const got = hash.digest('hex');
      if (got !== f.sha256)
        throw new BundleError(
          'HASH_MISMATCH',
          `${p} in the bundle does not match its manifest (sha256 ${got}, manifest says ${f.sha256})`,
        );
      if ('table' in slot && slot.ext === 'json' && importing.has(slot.runId))
        tableData.set(p, Buffer.concat(parts));
    }

    // 6. Parse and check the rows of the runs to import.
    const tablesOf = new Map<string, BundleTable[]>();
    for (const r of toImport) {
      const tables: BundleTable[] = [];
      for (const [p, f] of listed) {
        const s = f.slot;
        if (s.runId !== r.id || !('table' in s) || s.ext !== 'json') continue;
        tables.push(
          parseTableJson(tableData.get(p)!, p, s.table, s.table === 'runs' ? 'id' : 'run_id', r.id),
        );
      }
      checkRunRow(
        tables.find((t) => t.table === 'runs')!,
        r,
      );
      const artifacts = tables.find((t) => t.table === 'artifacts');
      if (artifacts) checkArtifactRows(artifacts, r.id, listed);
      tablesOf.set(
        r.id,
        tables.sort((a, b) => (a.table === 'runs' ? -1 : b.table === 'runs' ? 1 : 0)),
      );
    }

    // 7. One transaction for every row; folders move into place inside it, and back if it fails.
    const warnings: string[] = [];
    const moved: { from: string; to: string }[] = [];
    try {
      store.db
        .transaction(() => {
          for (const r of toImport) {
            if (present(r.id))
              throw new BundleError(
                'IMPORT_FAILED',
                `run ${r.id} was added to ${store.dataDir} during the import; import again`,
              );
          }
          // Every run row first, so rows of one run can refer to another run of the bundle.
          const owned = new Set(runTables(store.db).map((t) => t.name));
          for (const r of toImport) insertTable(store.db, owned, tablesOf.get(r.id)![0], r.id, warnings);
          // What the run lacks is the manifest's word (hashed with the rest), whatever its runs row says.
          const markLeftOut = store.db.prepare('UPDATE runs SET files_left_out_json = ? WHERE id = ?');
          for (const r of toImport)
            markLeftOut.run(r.filesLeftOut.length ? JSON.stringify(r.filesLeftOut) : null, r.id);
          for (const r of toImport)
            for (const t of tablesOf.get(r.id)!.slice(1)) insertTable(store.db, owned, t, r.id, warnings);
          for (const r of toImport) {
            const from = path.join(temp!, r.id);
            if (!fs.existsSync(from)) continue;
            const to = runArtifactsDir(store.dataDir, r.id);
            fs.renameSync(from, to);
            moved.push({ from, to });
          }
        })
        .immediate();
    } catch (err) {
      for (const m of moved.reverse()) fs.renameSync(m.to, m.from);
      if (err instanceof BundleError) throw err;
      throw new BundleError(
        'IMPORT_FAILED',
        `cannot import the bundle into ${store.dataDir}: ${(err as Error).message}; nothing was changed`,
        { cause: err },
      );
    }
    return { imported: toImport.map((r) => r.id), skipped, warnings };
  } finally {
    if (temp) fs.rmSync(temp, { recursive: true, force: true });
  }
}

/** Parents before children (manifests from our exporter already are; others need not be). */
function parentsFirst<T extends { id: string; parentId: string | null }>(runs: T[]): T[] {
  const ids = new Set(runs.map((r) => r.id));
  const placed = new Set<string>();
  const out: T[] = [];
  const pending = [...runs];
  while (pending.length > 0) {
    const i = pending.findIndex((r) => !r.parentId || !ids.has(r.parentId) || placed.has(r.parentId));
    const next = pending.splice(i < 0 ? 0 : i, 1)[0];
    placed.add(next.id);
    out.push(next);
  }
  return out;
}
