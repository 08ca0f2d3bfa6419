/**
 * Run bundles, export side: which files of a run's folder travel. Every file is hashed; a completed run's resume
 * state never travels (nothing reads it once the run finished, and it is the largest file of a training run),
 * and the weights of a run travel unless the export leaves them out (`weights: 'none'`, or a list of the runs
 * that keep theirs). What stays out is named with its hash and size in the manifest and, after an import, in
 * the run's row (`files_left_out_json`), so the run is known to be "without weights" wherever that matters.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BundleTable, LeftOutFile, LeftOutRole } from '../../src-shared/bundle.ts';
import { isWithoutWeights } from '../../src-shared/bundle.ts';
import { assertSafeArtifactName, hashFile } from './artifacts.ts';
import { BundleError } from './bundleError.ts';
import { ARTIFACTS_DIR_NAME } from './dataDir.ts';
import type { RunRecord } from './runs.ts';

/** Which runs carry their weights: all, none, or the runs named. */
export type WeightsChoice = 'all' | 'none' | readonly string[];

/** Parses the CLI's `--weights all|none|ID[,ID...]` (repeatable; ids are joined). */
export function parseWeightsChoice(values: readonly string[] | undefined): WeightsChoice {
  const parts = (values ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  if (parts.length === 0) return 'all';
  if (parts.length === 1 && (parts[0] === 'all' || parts[0] === 'none')) return parts[0];
  if (parts.includes('all') || parts.includes('none'))
    throw new BundleError('NO_RUNS', "--weights takes 'all', 'none' or run ids, not a mix of them");
  return [...new Set(parts)];
}

/** The bundled runs that carry their weights; refuses ids outside the bundle and runs that have none. */
export function runsWithWeights(choice: WeightsChoice, runs: readonly RunRecord[]): Set<string> {
  if (choice === 'none') return new Set();
  if (choice === 'all') return new Set(runs.map((r) => r.id));
  const byId = new Map(runs.map((r) => [r.id, r]));
  for (const id of choice) {
    const run = byId.get(id);
    if (!run)
      throw new BundleError(
        'RUN_NOT_FOUND',
        `--weights names run ${id}, which is not among the runs being exported (${runs.length} runs)`,
      );
    if (isWithoutWeights(run))
      throw new BundleError(
        'WITHOUT_WEIGHTS',
        `run ${id} was imported without its weights, so a bundle cannot carry them; leave it out of --weights`,
      );
  }
  return new Set(choice);
}

/** A training run's optimizer state and a SCALAR pair's finished-pair checkpoint: what `resume` reads. */
const RESUME_FILE = /^(?:state\.safetensors|pair\d+\/done\.safetensors)$/;

/** Files written for other tools: SAELens folders (the same weights as best/) and full edge-score matrices. */
const EXPORT_FILE = /^(?:saes\/.+|pair\d+\/edge_scores\.safetensors)$/;

/**
 * The role of a file of a run's folder: resume state; exports for other tools; weights (the tensors the app
 * computes with: LM / SAE parameters in `best/`, SCALAR's per-token KL, any other safetensors); or a record that
 * always travels (reports, JSON, CSV: small, and what the pages show).
 */
export function fileRoleOf(rel: string): LeftOutRole | 'record' {
  if (RESUME_FILE.test(rel)) return 'resume';
  if (EXPORT_FILE.test(rel)) return 'exports';
  if (rel.endsWith('.safetensors') || rel.split('/')[0] === 'best') return 'weights';
  return 'record';
}

/** Regular files under a run's artifact folder, as '/'-separated paths relative to it, sorted. */
export function listRunFiles(dir: string, runId: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (abs: string, rel: string) => {
    for (const entry of fs.readdirSync(abs, { withFileTypes: true })) {
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      const childAbs = path.join(abs, entry.name);
      if (entry.isDirectory()) walk(childAbs, childRel);
      else if (entry.isFile()) out.push(childRel);
      else
        throw new BundleError(
          'EXPORT_FAILED',
          `run ${runId}: ${childAbs} is not a regular file or folder (bundles carry only regular files)`,
        );
    }
  };
  walk(dir, '');
  for (const rel of out) {
    try {
      assertSafeArtifactName(rel);
    } catch (err) {
      throw new BundleError(
        'EXPORT_FAILED',
        `run ${runId}: file ${rel} cannot travel in a bundle: ${(err as Error).message}`,
      );
    }
  }
  return out.sort();
}

export interface RunFiles {
  /** The files that travel, by path inside the run's folder. */
  kept: Map<string, { sha256: string; bytes: number; abs: string }>;
  /** Every file the run lacks in the bundle: those left out now and those an earlier bundle left out. */
  leftOut: LeftOutFile[];
}

/**
 * Hashes a run's files and splits them into what travels and what stays out: without its weights a run keeps
 * only its records; with them it still leaves out a completed run's resume state, and exports if asked to.
 */
export async function chooseRunFiles(
  dir: string,
  run: RunRecord,
  opts: { withWeights: boolean; withoutExports?: boolean },
): Promise<RunFiles> {
  const kept: RunFiles['kept'] = new Map();
  const leftOut: LeftOutFile[] = [];
  for (const rel of listRunFiles(dir, run.id)) {
    const abs = path.join(dir, ...rel.split('/'));
    const hashed = await hashFile(abs);
    // Recorded with the reason it stayed out. Without its weights a run keeps none of its tensors (an
    // unfinished run's resume state and the SAELens copies hold its parameters too).
    const kind = fileRoleOf(rel);
    const why: LeftOutRole | null =
      kind === 'record'
        ? null
        : kind === 'resume' && run.status === 'completed'
          ? 'resume'
          : !opts.withWeights
            ? 'weights'
            : kind === 'exports' && opts.withoutExports === true
              ? 'exports'
              : null;
    if (why) leftOut.push({ path: rel, ...hashed, role: why });
    else kept.set(rel, { ...hashed, abs });
  }
  // A run imported without some files still lacks them (unless they have since been put back).
  const earlier = run.filesLeftOut.filter(
    (f) => !kept.has(f.path) && !leftOut.some((l) => l.path === f.path),
  );
  return { kept, leftOut: [...earlier, ...leftOut].sort((a, b) => a.path.localeCompare(b.path)) };
}

const col = (table: BundleTable, name: string) => table.columns.indexOf(name);

/**
 * The artifacts table rows must describe the bundled bytes: rows of files left out are dropped (the manifest
 * names those files); a registered file that is missing fails the export; one rewritten since it was recorded
 * (a cancelled run's last checkpoint) travels as it is now, its row updated to the file's hash, with a warning.
 */
export function reconcileArtifacts(
  table: BundleTable,
  runId: string,
  files: RunFiles,
  warnings: string[],
): void {
  const [iPath, iSha, iBytes, iKind, iName] = ['path', 'sha256', 'bytes', 'kind', 'name'].map((c) =>
    col(table, c),
  );
  if (iPath < 0 || iSha < 0 || iBytes < 0) return;
  const prefix = `${ARTIFACTS_DIR_NAME}/${runId}/`;
  const relOf = (row: BundleTable['rows'][number]) => {
    const stored = String(row[iPath]);
    return stored.startsWith(prefix) ? stored.slice(prefix.length) : null;
  };
  const left = new Set(files.leftOut.map((f) => f.path));
  table.rows = table.rows.filter((row) => {
    const rel = relOf(row);
    return rel === null || !left.has(rel);
  });
  for (const row of table.rows) {
    const rel = relOf(row);
    const label = `artifact ${String(row[iKind])}/${String(row[iName])} of run ${runId}`;
    const actual = rel === null ? undefined : files.kept.get(rel);
    if (!actual) {
      throw new BundleError(
        'EXPORT_FAILED',
        `${label}: its file ${String(row[iPath])} is missing from the run's folder, so the bundle could not be imported`,
      );
    }
    if (actual.sha256 !== row[iSha] || actual.bytes !== row[iBytes]) {
      warnings.push(
        `${label} was rewritten after it was recorded; bundled as it is now (sha256 ${actual.sha256})`,
      );
      row[iSha] = actual.sha256;
      row[iBytes] = actual.bytes;
    }
  }
}

/** The bundled `runs` row says what the run lacks, as its manifest entry does. */
export function markRunRow(table: BundleTable, leftOut: LeftOutFile[]): void {
  const i = col(table, 'files_left_out_json');
  if (i >= 0 && table.rows.length === 1) table.rows[0][i] = leftOut.length ? JSON.stringify(leftOut) : null;
}
