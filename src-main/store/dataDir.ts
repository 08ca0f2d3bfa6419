/**
 * Where the workstation keeps its data: one SQLite file plus one artifact folder per run.
 *
 *   <dir>/scalar.db                 the database (WAL: scalar.db-wal and scalar.db-shm sit beside it)
 *   <dir>/artifacts/<run_id>/...    safetensors, reports, per-token KL tensors of that run
 *
 * Precedence: explicit option (`--data-dir`) > env `SCALAR_DATA_DIR` > per-user default of the platform.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const APP_DIR_NAME = 'scalar-workstation';
export const DB_FILE_NAME = 'scalar.db';
export const ARTIFACTS_DIR_NAME = 'artifacts';
export const DATA_DIR_ENV = 'SCALAR_DATA_DIR';

export interface DataDirOptions {
  /** `--data-dir` from the command line or app settings; wins over everything else. */
  dataDir?: string;
  /** Injected for tests; defaults to `process.env`. */
  env?: Record<string, string | undefined>;
  /** Injected for tests; defaults to `process.platform`. */
  platform?: NodeJS.Platform;
  /** Injected for tests; defaults to `os.homedir()`. */
  homeDir?: string;
}

export interface DataDirLayout {
  root: string;
  dbPath: string;
  artifactsDir: string;
}

/** The per-user default directory of a platform (not created). */
export function defaultDataDir(
  platform: NodeJS.Platform = process.platform,
  env: Record<string, string | undefined> = process.env,
  homeDir: string = os.homedir(),
): string {
  if (platform === 'win32') {
    // %APPDATA% is normally set; fall back to its usual location so a stripped environment still works.
    const appData = nonEmpty(env.APPDATA) ?? path.win32.join(homeDir, 'AppData', 'Roaming');
    return path.win32.join(appData, APP_DIR_NAME);
  }
  if (platform === 'darwin') return path.posix.join(homeDir, 'Library', 'Application Support', APP_DIR_NAME);
  // XDG Base Directory spec: a relative XDG_DATA_HOME is invalid and must be ignored.
  const xdg = nonEmpty(env.XDG_DATA_HOME);
  const base = xdg && path.posix.isAbsolute(xdg) ? xdg : path.posix.join(homeDir, '.local', 'share');
  return path.posix.join(base, APP_DIR_NAME);
}

/** Resolves the data directory to an absolute path without touching the file system. */
export function resolveDataDir(options: DataDirOptions = {}): string {
  const env = options.env ?? process.env;
  const homeDir = options.homeDir ?? os.homedir();
  const chosen = nonEmpty(options.dataDir) ?? nonEmpty(env[DATA_DIR_ENV]);
  if (chosen) return path.resolve(expandHome(chosen, homeDir));
  return defaultDataDir(options.platform ?? process.platform, env, homeDir);
}

export function dataDirLayout(root: string): DataDirLayout {
  return { root, dbPath: path.join(root, DB_FILE_NAME), artifactsDir: path.join(root, ARTIFACTS_DIR_NAME) };
}

/** Creates the directory and its artifact folder if needed and returns the layout. */
export function ensureDataDir(root: string): DataDirLayout {
  const layout = dataDirLayout(path.resolve(root));
  fs.mkdirSync(layout.artifactsDir, { recursive: true });
  return layout;
}

/** Resolve + create: what the app, the server and the CLI call at startup. */
export function prepareDataDir(options: DataDirOptions = {}): DataDirLayout {
  return ensureDataDir(resolveDataDir(options));
}

function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== '' ? value : undefined;
}

// `--data-dir=~/runs` reaches us unexpanded (the shell only expands a word-initial `~`), so do it here.
function expandHome(p: string, homeDir: string): string {
  if (p === '~') return homeDir;
  if (p.startsWith('~/') || p.startsWith('~\\')) return path.join(homeDir, p.slice(2));
  return p;
}
