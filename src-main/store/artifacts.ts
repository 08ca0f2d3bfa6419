/**
 * Artifact files (safetensors, reports, KL tensors) live under `<dataDir>/artifacts/<run_id>/<name>`; the
 * `artifacts` table records where (relative to the data dir, so a data dir can be moved) and their sha256, so
 * bundles and reloads can prove they read the bytes that were written.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ARTIFACTS_DIR_NAME } from './dataDir.ts';
import { cachedStatement, type Db } from './db.ts';
import { StoreError } from './errors.ts';
import { assertRunId } from './runId.ts';

export type ArtifactKind = 'checkpoint' | 'best' | 'sae' | 'lm' | 'report' | 'kl' | 'bundle' | (string & {});

export interface ArtifactRecord {
  id: number;
  runId: string;
  kind: ArtifactKind;
  name: string;
  /** Relative to the data dir, forward slashes: `artifacts/<run_id>/<name>`. */
  path: string;
  sha256: string;
  bytes: number;
  createdAt: string;
  meta: unknown;
}

export interface RegisterArtifactInput {
  runId: string;
  kind: ArtifactKind;
  /** Path inside the run's folder, '/'-separated, e.g. `blocks.0.hook_resid_pre/sae_weights.safetensors`. */
  name: string;
  /** Where the file is; defaults to `artifactPath(dataDir, runId, name)` and must lie in the run's folder. */
  absPath?: string;
  meta?: unknown;
}

export type ArtifactRef = number | { runId: string; kind: ArtifactKind; name: string };

interface ArtifactRow {
  id: number;
  run_id: string;
  kind: string;
  name: string;
  path: string;
  sha256: string;
  bytes: number;
  created_at: string;
  meta_json: string | null;
}

export function runArtifactsDir(dataDir: string, runId: string): string {
  assertRunId(runId);
  return path.join(path.resolve(dataDir), ARTIFACTS_DIR_NAME, runId);
}

/** Absolute path of an artifact; rejects names that would leave the run's folder. */
export function artifactPath(dataDir: string, runId: string, name: string): string {
  assertSafeArtifactName(name);
  const runDir = runArtifactsDir(dataDir, runId);
  const full = path.join(runDir, ...name.split('/'));
  assertInside(runDir, full, name);
  return full;
}

export function assertSafeArtifactName(name: string): void {
  const reject = (why: string): never => {
    throw new StoreError('UNSAFE_ARTIFACT_PATH', `Artifact name ${JSON.stringify(name)} rejected: ${why}`);
  };
  if (typeof name !== 'string' || name.length === 0) reject('it is empty');
  if (name.includes('\0')) reject('it contains a NUL character');
  if (path.posix.isAbsolute(name) || path.win32.isAbsolute(name) || /^[A-Za-z]:/.test(name)) {
    reject('absolute paths are not allowed; give a path relative to the run folder');
  }
  // A backslash is a separator on Windows but a file-name character elsewhere; refuse the ambiguity.
  if (name.includes('\\')) reject("use '/' as the separator");
  for (const segment of name.split('/')) {
    if (segment === '..') reject("'..' would escape the run's artifact folder");
    if (segment === '' || segment === '.') reject("empty or '.' path segments are not allowed");
  }
}

/** sha256 (hex) and size of a file, streamed so multi-GB checkpoints do not need to fit in memory. */
export async function hashFile(absPath: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of fs.createReadStream(absPath, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** Hashes the file and records it; registering the same (run, kind, name) again replaces the record. */
export async function registerArtifact(
  db: Db,
  dataDir: string,
  input: RegisterArtifactInput,
  now: Date = new Date(),
): Promise<ArtifactRecord> {
  const { runId, kind, name } = input;
  if (typeof kind !== 'string' || kind.length === 0) {
    throw new StoreError('UNSAFE_ARTIFACT_PATH', 'Artifact kind must be a non-empty string');
  }
  const expected = artifactPath(dataDir, runId, name);
  assertRunExists(db, runId);
  const absPath = path.resolve(input.absPath ?? expected);
  assertInside(runArtifactsDir(dataDir, runId), absPath, absPath);
  if (!fs.existsSync(absPath)) {
    throw new StoreError(
      'ARTIFACT_MISSING_FILE',
      `Cannot register artifact ${name} of run ${runId}: ${absPath} does not exist`,
    );
  }
  // Symlinks could point out of the run folder; compare real paths as well.
  assertInside(fs.realpathSync(runArtifactsDir(dataDir, runId)), fs.realpathSync(absPath), absPath);

  const { sha256, bytes } = await hashFile(absPath);
  const row = cachedStatement(
    db,
    `INSERT INTO artifacts (run_id, kind, name, path, sha256, bytes, created_at, meta_json)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (run_id, kind, name) DO UPDATE SET
       path = excluded.path, sha256 = excluded.sha256, bytes = excluded.bytes,
       created_at = excluded.created_at, meta_json = excluded.meta_json
     RETURNING *`,
  ).get(
    runId,
    kind,
    name,
    toStoredPath(dataDir, absPath),
    sha256,
    bytes,
    now.toISOString(),
    input.meta === undefined ? null : JSON.stringify(input.meta),
  ) as ArtifactRow;
  return toRecord(row);
}

export function getArtifact(db: Db, ref: ArtifactRef): ArtifactRecord | undefined {
  const row = (
    typeof ref === 'number'
      ? cachedStatement(db, 'SELECT * FROM artifacts WHERE id = ?').get(ref)
      : cachedStatement(db, 'SELECT * FROM artifacts WHERE run_id = ? AND kind = ? AND name = ?').get(
          ref.runId,
          ref.kind,
          ref.name,
        )
  ) as ArtifactRow | undefined;
  return row ? toRecord(row) : undefined;
}

export function listArtifacts(db: Db, runId: string, kind?: ArtifactKind): ArtifactRecord[] {
  const rows = (
    kind === undefined
      ? cachedStatement(db, 'SELECT * FROM artifacts WHERE run_id = ? ORDER BY kind, name').all(runId)
      : cachedStatement(db, 'SELECT * FROM artifacts WHERE run_id = ? AND kind = ? ORDER BY name').all(
          runId,
          kind,
        )
  ) as ArtifactRow[];
  return rows.map(toRecord);
}

/** Absolute path of a recorded artifact; the stored path is re-checked (databases can arrive in bundles). */
export function resolveArtifactFile(dataDir: string, artifact: ArtifactRecord): string {
  const full = path.resolve(dataDir, ...artifact.path.split('/'));
  assertInside(runArtifactsDir(dataDir, artifact.runId), full, artifact.path);
  return full;
}

/** Re-hashes the file and throws if it is missing or its bytes changed; returns the record when intact. */
export async function verifyArtifact(db: Db, dataDir: string, ref: ArtifactRef): Promise<ArtifactRecord> {
  const artifact = getArtifact(db, ref);
  if (!artifact) {
    const what = typeof ref === 'number' ? `id ${ref}` : `${ref.kind}/${ref.name} of run ${ref.runId}`;
    throw new StoreError('ARTIFACT_NOT_FOUND', `No artifact ${what} is registered`);
  }
  const label = `Artifact ${artifact.kind}/${artifact.name} of run ${artifact.runId}`;
  const file = resolveArtifactFile(dataDir, artifact);
  if (!fs.existsSync(file)) {
    throw new StoreError('ARTIFACT_MISSING_FILE', `${label}: file ${file} is missing`);
  }
  const actual = await hashFile(file);
  if (actual.sha256 !== artifact.sha256 || actual.bytes !== artifact.bytes) {
    throw new StoreError(
      'ARTIFACT_MISMATCH',
      `${label}: file ${file} has changed since it was recorded ` +
        `(sha256 ${actual.sha256}, ${actual.bytes} bytes; expected sha256 ${artifact.sha256}, ${artifact.bytes} bytes)`,
    );
  }
  return artifact;
}

function assertRunExists(db: Db, runId: string): void {
  if (!cachedStatement(db, 'SELECT 1 FROM runs WHERE id = ?').get(runId)) {
    throw new StoreError('RUN_NOT_FOUND', `Run ${runId} not found`);
  }
}

function assertInside(dir: string, candidate: string, shown: string): void {
  const rel = path.relative(dir, candidate);
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new StoreError(
      'UNSAFE_ARTIFACT_PATH',
      `Artifact path ${JSON.stringify(shown)} rejected: it is outside the run's artifact folder ${dir}`,
    );
  }
}

function toStoredPath(dataDir: string, absPath: string): string {
  return path.relative(path.resolve(dataDir), absPath).split(path.sep).join('/');
}

function toRecord(row: ArtifactRow): ArtifactRecord {
  return {
    id: row.id,
    runId: row.run_id,
    kind: row.kind,
    name: row.name,
    path: row.path,
    sha256: row.sha256,
    bytes: row.bytes,
    createdAt: row.created_at,
    meta: row.meta_json === null ? null : JSON.parse(row.meta_json),
  };
}
