/**
 * Opening the SQLite database and bringing its schema up to date.
 *
 * The schema version lives in `PRAGMA user_version` (part of the file header, so it commits or rolls back
 * together with the migration that set it).
 */
import Database from 'better-sqlite3';
import { StoreError } from './errors.ts';
import { MIGRATIONS, type Migration } from './migrations.ts';

export type Db = Database.Database;
export type Statement = Database.Statement<unknown[]>;

export interface OpenDatabaseOptions {
  /** Defaults to the full list; tests pass a prefix to build databases at earlier versions. */
  migrations?: readonly Migration[];
  /** Milliseconds a writer waits for another connection's lock before SQLITE_BUSY. */
  busyTimeoutMs?: number;
}

export interface MigrationResult {
  from: number;
  to: number;
  applied: { version: number; name: string }[];
}

const DEFAULT_BUSY_TIMEOUT_MS = 30_000;

/** Opens (creating if needed) the database file, configures it and applies pending migrations. */
export function openDatabase(file: string, options: OpenDatabaseOptions = {}): Db {
  const migrations = options.migrations ?? MIGRATIONS;
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  let db: Db;
  try {
    db = new Database(file, { timeout: busyTimeoutMs });
  } catch (err) {
    throw new StoreError('DB_OPEN_FAILED', `Cannot open database ${file}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  try {
    configure(db, busyTimeoutMs, file);
    assertVersionKnown(db, migrations, file);
    migrate(db, migrations);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Applies every migration above the current version, each in its own IMMEDIATE transaction (the write lock
 * is taken up front, and the version re-read under it, so two processes opening a fresh data dir at once do
 * not both run the same migration).
 */
export function migrate(db: Db, migrations: readonly Migration[] = MIGRATIONS): MigrationResult {
  validateMigrations(migrations);
  const from = schemaVersion(db);
  const applied: MigrationResult['applied'] = [];
  for (const m of migrations) {
    if (m.version <= schemaVersion(db)) continue;
    applyMigration(db, m);
    applied.push({ version: m.version, name: m.name });
  }
  return { from, to: schemaVersion(db), applied };
}

function applyMigration(db: Db, m: Migration): void {
  // foreign_keys cannot be toggled inside a transaction, hence outside.
  if (m.disableForeignKeys) db.pragma('foreign_keys = OFF');
  try {
    db.transaction(() => {
      if (schemaVersion(db) >= m.version) return; // another connection got here first
      m.up(db);
      if (m.disableForeignKeys) {
        const violations = db.pragma('foreign_key_check') as unknown[];
        if (violations.length > 0)
          throw new Error(`${violations.length} foreign key violation(s) after migration`);
      }
      // Integer-validated above, so interpolation is safe (PRAGMA takes no bound parameters).
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  } catch (err) {
    throw new StoreError(
      'MIGRATION_FAILED',
      `Migration ${m.version} (${m.name}) failed and was rolled back: ${errorMessage(err)}`,
      { cause: err },
    );
  } finally {
    if (m.disableForeignKeys) db.pragma('foreign_keys = ON');
  }
}

function configure(db: Db, busyTimeoutMs: number, file: string): void {
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
  let mode: unknown;
  try {
    mode = db.pragma('journal_mode = WAL', { simple: true });
  } catch (err) {
    // The first real read of the file: a non-database file fails here.
    throw new StoreError('DB_OPEN_FAILED', `Cannot open database ${file}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  // ':memory:' reports 'memory' and cannot do WAL; every real file must.
  if (mode !== 'wal' && file !== ':memory:' && file !== '') {
    throw new StoreError(
      'DB_OPEN_FAILED',
      `Cannot switch ${file} to WAL mode (journal_mode is '${String(mode)}')`,
    );
  }
  // NORMAL is durable in WAL mode except for the last transactions before a power cut; fine for run records.
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
}

function assertVersionKnown(db: Db, migrations: readonly Migration[], file: string): void {
  const current = schemaVersion(db);
  const known = migrations.length > 0 ? migrations[migrations.length - 1].version : 0;
  if (current > known) {
    throw new StoreError(
      'SCHEMA_TOO_NEW',
      `Database ${file} has schema version ${current}, but this version of SCALAR Workstation only knows ` +
        `schema versions up to ${known}. It was written by a newer release: upgrade the app, or point ` +
        `--data-dir / SCALAR_DATA_DIR at another directory. The file was not modified.`,
    );
  }
}

function validateMigrations(migrations: readonly Migration[]): void {
  migrations.forEach((m, index) => {
    if (!Number.isInteger(m.version) || m.version !== index + 1) {
      throw new Error(
        `Migration list is malformed: entry ${index} has version ${m.version}, expected ${index + 1}`,
      );
    }
  });
}

/** Per-connection cache of prepared statements: preparing is cheap but not free on hot paths (metrics). */
const statementCache = new WeakMap<Db, Map<string, Statement>>();

export function cachedStatement(db: Db, sql: string): Statement {
  let byText = statementCache.get(db);
  if (!byText) {
    byText = new Map();
    statementCache.set(db, byText);
  }
  let stmt = byText.get(sql);
  if (!stmt) {
    stmt = db.prepare(sql);
    byText.set(sql, stmt);
  }
  return stmt;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
