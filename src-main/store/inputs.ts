/**
 * Run inputs: the identity (sha256, size) of every file a run reads from outside its own folder (a corpus, a
 * model folder, SAELens folders, another run's checkpoints), pinned when the run is submitted. A run is resumed
 * only on the files it started with, unless the resume is told to accept a changed file; the replaced identity
 * is then kept beside the new one, so the run's record never claims a file it was not (only) trained on.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { cachedStatement, type Db } from './db.ts';

export interface FileIdentity {
  sha256: string;
  bytes: number;
}

export interface RunInput extends FileIdentity {
  path: string;
  /** What the file is to the run: corpus, lm, sae, … */
  role: string;
  pinnedAt: string;
  note: string | null;
  /** Identities a resume accepted to replace, oldest first. */
  replaced: (FileIdentity & { at: string })[];
}

export type NewRunInputRow = Omit<RunInput, 'pinnedAt' | 'replaced' | 'note'> & { note?: string | null };

interface Row {
  run_id: string;
  path: string;
  role: string;
  sha256: string;
  bytes: number;
  pinned_at: string;
  note: string | null;
  replaced_json: string | null;
}

/** sha256 and size of a file, read in chunks (a model file may be large). */
export function fileIdentity(file: string): FileIdentity {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    let bytes = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      bytes += n;
    }
    return { sha256: hash.digest('hex'), bytes };
  } finally {
    fs.closeSync(fd);
  }
}

export function recordRunInputs(db: Db, runId: string, inputs: NewRunInputRow[], now = new Date()): void {
  const insert = cachedStatement(
    db,
    `INSERT OR REPLACE INTO run_inputs (run_id, path, role, sha256, bytes, pinned_at, note, replaced_json)
     VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
  );
  db.transaction(() => {
    for (const i of inputs)
      insert.run(runId, i.path, i.role, i.sha256, i.bytes, now.toISOString(), i.note ?? null);
  }).immediate();
}

export function runInputs(db: Db, runId: string): RunInput[] {
  const rows = cachedStatement(db, 'SELECT * FROM run_inputs WHERE run_id = ? ORDER BY role, path').all(
    runId,
  ) as Row[];
  return rows.map((r) => ({
    path: r.path,
    role: r.role,
    sha256: r.sha256,
    bytes: r.bytes,
    pinnedAt: r.pinned_at,
    note: r.note,
    replaced: r.replaced_json ? (JSON.parse(r.replaced_json) as RunInput['replaced']) : [],
  }));
}

/** A pinned input as it is now: the same, changed (with its new identity) or gone. */
export interface InputCheck {
  input: RunInput;
  now: FileIdentity | null;
  changed: boolean;
}

export function checkRunInputs(db: Db, runId: string): InputCheck[] {
  return runInputs(db, runId).map((input) => {
    let now: FileIdentity | null = null;
    try {
      now = fileIdentity(input.path);
    } catch {
      now = null;
    }
    return { input, now, changed: !now || now.sha256 !== input.sha256 || now.bytes !== input.bytes };
  });
}

/** Pins a changed input's new identity, keeping the one it replaces. */
export function acceptChangedInput(
  db: Db,
  runId: string,
  path: string,
  now: FileIdentity,
  at = new Date(),
): void {
  const row = cachedStatement(db, 'SELECT * FROM run_inputs WHERE run_id = ? AND path = ?').get(
    runId,
    path,
  ) as Row | undefined;
  if (!row) return;
  const replaced = row.replaced_json ? (JSON.parse(row.replaced_json) as unknown[]) : [];
  replaced.push({ sha256: row.sha256, bytes: row.bytes, at: at.toISOString() });
  cachedStatement(
    db,
    'UPDATE run_inputs SET sha256 = ?, bytes = ?, replaced_json = ? WHERE run_id = ? AND path = ?',
  ).run(now.sha256, now.bytes, JSON.stringify(replaced), runId, path);
}
