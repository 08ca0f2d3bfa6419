/**
 * Run bundles, export side: runs (optionally with everything they were built on) with their database rows and
 * artifact files in one zip that `importBundle` (bundleImport.ts) can check and load into another data dir.
 * The layout and manifest are described in src-shared/bundle.ts.
 *
 * Export reads every row of every run in one read transaction (a consistent snapshot), hashes every file,
 * writes `manifest.json` first and then the tables and files, re-hashing the files as they stream into the
 * archive (a file that changes meanwhile fails the export), and renames the finished archive into place.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  type BundleTable,
  BUNDLE_MANIFEST_FILE,
  BUNDLE_SCHEMA_VERSION,
  bundleFilePath,
  bundleTablePath,
  type BundleLineage,
  type BundleManifest,
  type BundleRun,
} from '../../src-shared/bundle.ts';
import type { LeftOutRole } from '../../src-shared/bundle.ts';
import { isWithoutWeights, LEFT_OUT_ROLES } from '../../src-shared/bundle.ts';
import { runArtifactsDir } from './artifacts.ts';
import { BundleError } from './bundleError.ts';
import {
  chooseRunFiles,
  markRunRow,
  reconcileArtifacts,
  runsWithWeights,
  type WeightsChoice,
} from './bundleFiles.ts';
import { dumpRows, runTables, tableCsv, tableJson } from './bundleTables.ts';
import { ZIP32_LIMIT, ZipFileWriter } from './bundleZip.ts';
import { schemaVersion } from './db.ts';
import { isStoreError } from './errors.ts';
import type { Store } from './index.ts';
import type { RunRecord } from './runs.ts';

export { BundleError, isBundleError, type BundleErrorCode } from './bundleError.ts';
export { importBundle, type ImportResult } from './bundleImport.ts';
export { readBundleManifest } from './bundleManifest.ts';
export { parseWeightsChoice, type WeightsChoice } from './bundleFiles.ts';

export interface ExportOptions {
  /** Also carry every run the given runs depend on (parents, LM / SAE runs) and pipeline runs' children. */
  withDeps?: boolean;
  /**
   * Which runs carry their weights (LM / SAE parameters, SAELens folders, SCALAR tensors; default all). The
   * others travel as records only and are imported "without weights". Completed runs never carry resume state.
   */
  weights?: WeightsChoice;
  /**
   * Leave out the copies written for other tools: SAELens folders, full edge-score matrices, and the CSV copy
   * of every table (the JSON one is what imports read).
   */
  withoutExports?: boolean;
  /**
   * Carry at most this many of each SCALAR pair's kept edges (the top ones by rank), as a run evaluated with
   * `--keep-edges N` stores: the explorer's budget slider then ends at N. Recorded as the run's `keptEdges`.
   */
  maxEdges?: number;
  /** The app writing the bundle (manifest `appVersion`). */
  appVersion?: string;
  /** Bundle timestamp (manifest `createdAt`, zip entry times); injected by tests. */
  now?: Date;
}

export interface ExportResult {
  file: string;
  bytes: number;
  /** Every run in the bundle, dependencies first. */
  runs: string[];
  /** What stayed out of the bundle, per role: files, bytes and how many runs lack such files. */
  leftOut: Record<LeftOutRole, { files: number; bytes: number; runs: number }>;
  warnings: string[];
}

type Link = BundleLineage['links'][number];
type External = BundleLineage['external'][number];

const ACTIVE_STATUSES = ['queued', 'running'];

/**
 * What a run was built on: its parent run, and the LM / SAE named in its job config when that is a run of
 * this store (`resources:<name>` models ship with the app and model folders are outside the store: external).
 */
export function runDependencies(store: Store, run: RunRecord): { links: Link[]; external: External[] } {
  const links: Link[] = [];
  const external: External[] = [];
  const seen = new Set<string>();
  const link = (dependsOn: string, via: Link['via']) => {
    if (seen.has(dependsOn) || dependsOn === run.id) return;
    seen.add(dependsOn);
    links.push({ runId: run.id, dependsOn, via });
  };
  if (run.parentId) link(run.parentId, 'parent');
  const config = (run.config ?? {}) as Record<string, unknown>;
  const inner = (typeof config.config === 'object' && config.config !== null ? config.config : {}) as Record<
    string,
    unknown
  >;
  for (const via of ['lm', 'sae'] as const) {
    for (const ref of [inner[via], config[via]]) {
      if (typeof ref !== 'string' || ref.length === 0) continue;
      if (store.getRun(ref)) link(ref, via);
      else if (!external.some((e) => e.ref === ref)) external.push({ runId: run.id, ref, via });
    }
  }
  return { links, external };
}

interface Selection {
  runs: RunRecord[];
  dependencies: string[];
  links: Link[];
  external: External[];
}

/** The runs to bundle, dependencies before the runs that need them (then by creation time). */
function selectRuns(store: Store, runIds: string[], withDeps: boolean): Selection {
  const byId = new Map<string, RunRecord>();
  const requested = [...new Set(runIds)];
  for (const id of requested) {
    const run = store.getRun(id);
    if (!run) throw new BundleError('RUN_NOT_FOUND', `run ${id} not found in ${store.dataDir}`);
    byId.set(id, run);
  }
  const deps = new Map<string, { links: Link[]; external: External[] }>();
  const queue = [...requested];
  while (queue.length > 0) {
    const run = byId.get(queue.shift()!)!;
    const d = runDependencies(store, run);
    deps.set(run.id, d);
    if (!withDeps) continue;
    const more = d.links.map((l) => l.dependsOn);
    if (run.kind === 'pipeline' || run.kind === 'reproduce')
      more.push(...store.listRuns({ parentId: run.id }).map((c) => c.id));
    // A reproduction also stands on runs it reused from earlier invocations (children of another run).
    if (run.kind === 'reproduce')
      more.push(...Object.values((run.progress?.children as Record<string, string> | undefined) ?? {}));
    for (const id of more) {
      if (byId.has(id)) continue;
      const dep = store.getRun(id);
      if (!dep) continue; // a dangling config reference: recorded as a link, reported on import
      byId.set(id, dep);
      queue.push(id);
    }
  }
  // Topological order over the links inside the bundle; ties by creation time, then id.
  const pending = [...byId.values()].sort(
    (a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id),
  );
  const placed = new Set<string>();
  const order: RunRecord[] = [];
  while (pending.length > 0) {
    const i = pending.findIndex((r) =>
      deps.get(r.id)!.links.every((l) => placed.has(l.dependsOn) || !byId.has(l.dependsOn)),
    );
    const next = pending.splice(i < 0 ? 0 : i, 1)[0]; // i < 0 only for a cycle; keep going in time order
    placed.add(next.id);
    order.push(next);
  }
  return {
    runs: order,
    dependencies: order.map((r) => r.id).filter((id) => !requested.includes(id)),
    links: order.flatMap((r) => deps.get(r.id)!.links),
    external: order.flatMap((r) => deps.get(r.id)!.external),
  };
}

function bundleRun(run: RunRecord): BundleRun {
  return {
    id: run.id,
    kind: run.kind,
    name: run.name,
    parentId: run.parentId,
    status: run.status,
    seed: run.seed,
    backend: run.backend,
    config: run.config,
    summary: run.summary,
    error: run.error,
    createdAt: run.createdAt,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    wallSeconds: run.wallSeconds,
    appVersion: run.appVersion,
    filesLeftOut: run.filesLeftOut,
  };
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Keeps the edges of rank < max; says whether any were dropped. */
function trimEdges(table: BundleTable, max: number): boolean {
  const rank = table.columns.indexOf('rank');
  if (rank < 0) return false;
  const before = table.rows.length;
  table.rows = table.rows.filter((row) => typeof row[rank] === 'number' && row[rank] < max);
  return table.rows.length < before;
}

export async function exportBundle(
  store: Store,
  runIds: string[],
  outFile: string,
  opts: ExportOptions = {},
): Promise<ExportResult> {
  if (runIds.length === 0) throw new BundleError('NO_RUNS', 'give at least one run to export');
  const selection = selectRuns(store, runIds, opts.withDeps ?? false);
  const active = selection.runs.filter((r) => ACTIVE_STATUSES.includes(r.status));
  if (active.length > 0) {
    throw new BundleError(
      'RUN_ACTIVE',
      `cannot export ${active.map((r) => `run ${r.id} (${r.status})`).join(', ')}: wait until it has finished or cancel it`,
    );
  }
  const now = opts.now ?? new Date();
  const warnings: string[] = [];
  const withWeights = runsWithWeights(opts.weights ?? 'all', selection.runs);
  for (const run of selection.runs) {
    if (withWeights.has(run.id) && isWithoutWeights(run))
      warnings.push(`run ${run.id} was imported without its weights; it travels without them (records only)`);
  }
  const leftOut: ExportResult['leftOut'] = {
    resume: { files: 0, bytes: 0, runs: 0 },
    weights: { files: 0, bytes: 0, runs: 0 },
    exports: { files: 0, bytes: 0, runs: 0 },
  };

  // One snapshot of every row of every bundled run.
  const tables = store.db.transaction(() => {
    const shapes = runTables(store.db);
    return new Map(
      selection.runs.map((r) => [
        r.id,
        shapes.map((s) => dumpRows(store.db, s, r.id)).filter((t) => t.table === 'runs' || t.rows.length > 0),
      ]),
    );
  })();

  const entries: { path: string; sha256: string; bytes: number; data?: Buffer; abs?: string }[] = [];
  const runsInManifest: BundleRun[] = [];
  for (const run of selection.runs) {
    const files = await chooseRunFiles(runArtifactsDir(store.dataDir, run.id), run, {
      withWeights: withWeights.has(run.id),
      withoutExports: opts.withoutExports,
    });
    for (const role of LEFT_OUT_ROLES) {
      const mine = files.leftOut.filter((f) => f.role === role);
      leftOut[role].files += mine.length;
      leftOut[role].bytes += mine.reduce((sum, f) => sum + f.bytes, 0);
      if (mine.length > 0) leftOut[role].runs++;
    }
    const entry = bundleRun({ ...run, filesLeftOut: files.leftOut });
    let keptEdges: number | null = null;
    for (const table of tables.get(run.id)!) {
      if (table.table === 'artifacts') reconcileArtifacts(table, run.id, files, warnings);
      if (table.table === 'runs') markRunRow(table, files.leftOut);
      if (table.table === 'edges' && opts.maxEdges !== undefined && trimEdges(table, opts.maxEdges))
        keptEdges = opts.maxEdges;
      // The CSV copies are for spreadsheets (never read on import): exports for other tools, like SAELens folders.
      const copies = opts.withoutExports ? (['json'] as const) : (['json', 'csv'] as const);
      for (const [ext, data] of copies.map(
        (ext) => [ext, ext === 'json' ? tableJson(table) : tableCsv(table)] as const,
      )) {
        entries.push({
          path: bundleTablePath(run.id, table.table, ext),
          sha256: sha256(data),
          bytes: data.length,
          data,
        });
      }
    }
    for (const [rel, f] of files.kept) entries.push({ path: bundleFilePath(run.id, rel), ...f });
    runsInManifest.push(keptEdges === null ? entry : { ...entry, keptEdges });
  }
  const total = entries.reduce((sum, e) => sum + e.bytes, 0);
  if (total > ZIP32_LIMIT) {
    throw new BundleError(
      'EXPORT_FAILED',
      `these runs hold ${total} bytes; bundles over 4 GiB are not supported`,
    );
  }

  const manifest: BundleManifest = {
    bundleSchemaVersion: BUNDLE_SCHEMA_VERSION,
    appVersion: opts.appVersion ?? 'unknown',
    createdAt: now.toISOString(),
    dbSchemaVersion: schemaVersion(store.db),
    runs: runsInManifest,
    lineage: {
      requested: [...new Set(runIds)],
      dependencies: selection.dependencies,
      links: selection.links,
      external: selection.external,
    },
    files: entries.map(({ path: p, sha256: s, bytes }) => ({ path: p, sha256: s, bytes })),
    warnings,
  };

  const target = path.resolve(outFile);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const partial = `${target}.partial-${randomBytes(4).toString('hex')}`;
  const fd = fs.openSync(partial, 'wx');
  const zip = new ZipFileWriter(fd, now);
  try {
    zip.addBuffer(BUNDLE_MANIFEST_FILE, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
    for (const e of entries) {
      if (e.data) {
        zip.addBuffer(e.path, e.data);
        continue;
      }
      const hash = createHash('sha256');
      let bytes = 0;
      await zip.addFile(e.path, e.abs!, (chunk) => {
        hash.update(chunk);
        bytes += chunk.length;
      });
      if (hash.digest('hex') !== e.sha256 || bytes !== e.bytes) {
        throw new BundleError(
          'EXPORT_FAILED',
          `${e.abs} changed while the bundle was being written; try again`,
        );
      }
    }
    zip.finish();
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(partial, target);
  } catch (err) {
    zip.abort();
    try {
      fs.closeSync(fd);
    } catch {
      // already closed
    }
    fs.rmSync(partial, { force: true });
    if (err instanceof BundleError || isStoreError(err)) throw err;
    throw new BundleError('EXPORT_FAILED', `cannot write ${target}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return {
    file: target,
    bytes: fs.statSync(target).size,
    runs: selection.runs.map((r) => r.id),
    leftOut,
    warnings,
  };
}
