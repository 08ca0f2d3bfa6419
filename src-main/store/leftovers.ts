/**
 * Files a killed process leaves behind: half-written checkpoints (`<file>.tmp-<pid>`: every atomic write goes
 * through one), bundle imports that never finished (`<dataDir>/.bundle-import-<pid>-…`) and uploads cut off
 * mid-body (`<dataDir>/uploads/.upload-<pid>-…`). They are removed when a run is resumed and when the
 * workstation starts; a file whose process is still alive (another process sharing the data dir) is left alone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { runArtifactsDir } from './artifacts.ts';
import type { Db } from './db.ts';

const TMP_FILE = /\.tmp-(\d+)$/;
const BUNDLE_TEMP = /^\.bundle-import-(?:(\d+)-)?/;
const UPLOAD_TEMP = /^\.upload-(?:(\d+)-)?/;
/** A leftover whose name carries no process id (written by an older release) is stale after this long. */
const NAMELESS_STALE_MS = 60 * 60 * 1000;

export interface SweepOptions {
  currentPid?: number;
  isProcessAlive?: (pid: number) => boolean;
  now?: Date;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function staleTest(options: SweepOptions) {
  const current = options.currentPid ?? process.pid;
  const alive = options.isProcessAlive ?? isAlive;
  const now = (options.now ?? new Date()).getTime();
  // At start-up nothing of this process runs yet: its own pid in a name is a former process's (containers).
  return (pid: string | undefined, file: string): boolean => {
    if (pid === undefined) {
      try {
        return now - fs.statSync(file).mtimeMs > NAMELESS_STALE_MS;
      } catch {
        return false;
      }
    }
    const n = Number(pid);
    return n === current || !alive(n);
  };
}

/** `*.tmp-<pid>` files under `dir` (recursively) for which `stale(pid)` holds; returns what was removed. */
export function removeTempFiles(
  dir: string,
  stale: (pid: string, file: string) => boolean = () => true,
): string[] {
  const removed: string[] = [];
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const m = TMP_FILE.exec(e.name);
        if (m && stale(m[1], p)) {
          fs.rmSync(p, { force: true });
          removed.push(p);
        }
      }
    }
  };
  walk(dir);
  return removed;
}

/**
 * The start-up sweep: leftovers of dead processes in the data dir, and in the folders of runs that stopped
 * (interrupted, failed, cancelled), the only runs a killed write can have touched.
 */
export function sweepLeftovers(db: Db, dataDir: string, options: SweepOptions = {}): string[] {
  const stale = staleTest(options);
  const removed: string[] = [];
  const sweepDir = (dir: string, pattern: RegExp) => {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const m = pattern.exec(name);
      const p = path.join(dir, name);
      if (m && stale(m[1], p)) {
        fs.rmSync(p, { recursive: true, force: true });
        removed.push(p);
      }
    }
  };
  sweepDir(dataDir, BUNDLE_TEMP);
  sweepDir(path.join(dataDir, 'uploads'), UPLOAD_TEMP);
  const stopped = db
    .prepare(`SELECT id FROM runs WHERE status IN ('interrupted', 'failed', 'cancelled')`)
    .all() as { id: string }[];
  for (const { id } of stopped) removed.push(...removeTempFiles(runArtifactsDir(dataDir, id), stale));
  return removed;
}
