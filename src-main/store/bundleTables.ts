/**
 * Generic copying of database rows for run bundles. Which tables belong to a run, and which of their columns
 * point at other runs, is read from the live schema (`PRAGMA table_info` / `foreign_key_list`), so a table or
 * column added by a later migration travels without this file knowing about it.
 */
import type { BundleCell, BundleManifest, BundleTable } from '../../src-shared/bundle.ts';
import { assertSafeArtifactName } from './artifacts.ts';
import { BundleError } from './bundleError.ts';
import { ARTIFACTS_DIR_NAME } from './dataDir.ts';
import type { Db } from './db.ts';

export interface TableShape {
  name: string;
  columns: string[];
  /** The column whose value is the owning run's id: `id` for runs, `run_id` for run-owned tables. */
  ownerColumn: string;
  /** Other columns that reference runs(id), e.g. comparisons.baseline_run_id, runs.parent_id. */
  runRefColumns: string[];
  /** An INTEGER PRIMARY KEY (rowid alias): not carried over, the target assigns its own. */
  rowidAlias: string | null;
  /** Primary-key columns in key order (or none: rowid order), for a stable row order. */
  orderBy: string[];
}

export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const q = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;

interface ColumnRow {
  name: string;
  type: string;
  pk: number;
}
interface ForeignKeyRow {
  table: string;
  from: string;
}

/** The shape of one table in this database, or undefined when it has no such table. */
export function tableShape(db: Db, name: string): TableShape | undefined {
  const master = db.prepare(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name) as
    { sql: string } | undefined;
  if (!master) return undefined;
  const columns = db.prepare(`SELECT name, type, pk FROM pragma_table_info(?)`).all(name) as ColumnRow[];
  const fks = db
    .prepare(`SELECT "table", "from" FROM pragma_foreign_key_list(?)`)
    .all(name) as ForeignKeyRow[];
  const keys = columns.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
  const withoutRowid = /WITHOUT\s+ROWID/i.test(master.sql);
  const rowidAlias =
    !withoutRowid && keys.length === 1 && keys[0].type.toUpperCase() === 'INTEGER' ? keys[0].name : null;
  const ownerColumn = name === 'runs' ? 'id' : 'run_id';
  return {
    name,
    columns: columns.map((c) => c.name),
    ownerColumn,
    runRefColumns: fks.filter((f) => f.table === 'runs' && f.from !== ownerColumn).map((f) => f.from),
    rowidAlias,
    orderBy: keys.map((k) => k.name),
  };
}

/** `runs` first, then every table whose `run_id` references runs(id), by name. */
export function runTables(db: Db): TableShape[] {
  const names = (
    db
      .prepare(
        `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`,
      )
      .all() as { name: string }[]
  ).map((r) => r.name);
  const owned = names.filter(
    (n) =>
      n !== 'runs' &&
      (db.prepare(`SELECT "table", "from" FROM pragma_foreign_key_list(?)`).all(n) as ForeignKeyRow[]).some(
        (f) => f.table === 'runs' && f.from === 'run_id',
      ),
  );
  return ['runs', ...owned].map((n) => tableShape(db, n)!);
}

type SqlValue = null | number | bigint | string | Uint8Array;

export function encodeCell(value: SqlValue): BundleCell {
  if (value === null || typeof value === 'string') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return value;
    return { $num: Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity' };
  }
  return { $b64: Buffer.from(value).toString('base64') };
}

export function decodeCell(cell: BundleCell): null | number | string | Buffer {
  if (cell === null || typeof cell === 'string' || typeof cell === 'number') return cell;
  if ('$num' in cell) return Number(cell.$num);
  return Buffer.from(cell.$b64, 'base64');
}

function isCell(v: unknown): v is BundleCell {
  if (v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) return true;
  if (typeof v !== 'object' || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  if (keys.length !== 1) return false;
  const o = v as Record<string, unknown>;
  if (keys[0] === '$num') return o.$num === 'Infinity' || o.$num === '-Infinity' || o.$num === 'NaN';
  return keys[0] === '$b64' && typeof o.$b64 === 'string';
}

/** The rows of `shape` owned by `runId`, every column, in primary-key (or insertion) order. */
export function dumpRows(db: Db, shape: TableShape, runId: string): BundleTable {
  const order = shape.orderBy.length > 0 ? shape.orderBy.map(q).join(', ') : 'rowid';
  const stmt = db
    .prepare(
      `SELECT ${shape.columns.map(q).join(', ')} FROM ${q(shape.name)} WHERE ${q(shape.ownerColumn)} = ? ORDER BY ${order}`,
    )
    .raw(true);
  const rows = (stmt.all(runId) as SqlValue[][]).map((row) => row.map(encodeCell));
  return { table: shape.name, columns: shape.columns, rows };
}

/** One row per line, so a bundle's tables read (and diff) well. */
export function tableJson(t: BundleTable): Buffer {
  const head = `{"table":${JSON.stringify(t.table)},"columns":${JSON.stringify(t.columns)},"rows":[`;
  return Buffer.from(`${head}\n${t.rows.map((r) => JSON.stringify(r)).join(',\n')}\n]}\n`);
}

function csvField(cell: BundleCell): string {
  const text =
    cell === null
      ? ''
      : typeof cell === 'number'
        ? String(cell)
        : typeof cell === 'string'
          ? cell
          : '$num' in cell
            ? cell.$num
            : cell.$b64;
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replaceAll('"', '""')}"` : text;
}

/** RFC 4180 CSV with a header line; NULL is an empty field, BLOBs are base64. */
export function tableCsv(t: BundleTable): Buffer {
  const lines = [t.columns.map(csvField), ...t.rows.map((r) => r.map(csvField))].map((l) => l.join(','));
  return Buffer.from(`${lines.join('\r\n')}\r\n`);
}

/** Parses and checks a table file: the expected table, well-formed cells, every row owned by `runId`. */
export function parseTableJson(
  data: Buffer,
  where: string,
  table: string,
  ownerColumn: string,
  runId: string,
): BundleTable {
  const bad = (why: string): never => {
    throw new BundleError('BAD_TABLE', `${where} in the bundle is not a valid table file: ${why}`);
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString('utf8'));
  } catch (err) {
    return bad((err as Error).message);
  }
  const t = parsed as Partial<BundleTable>;
  if (typeof t !== 'object' || t === null || t.table !== table) bad(`it does not hold table '${table}'`);
  if (!Array.isArray(t.columns) || !t.columns.every((c) => typeof c === 'string' && IDENTIFIER.test(c))) {
    bad('its column list is malformed');
  }
  const columns = t.columns as string[];
  if (new Set(columns).size !== columns.length) bad('a column is listed twice');
  const owner = columns.indexOf(ownerColumn);
  if (owner < 0) bad(`it has no '${ownerColumn}' column`);
  if (!Array.isArray(t.rows)) bad('it has no rows array');
  for (const [i, row] of (t.rows as unknown[]).entries()) {
    if (!Array.isArray(row) || row.length !== columns.length)
      bad(`row ${i} does not have ${columns.length} cells`);
    const cells = row as unknown[];
    if (!cells.every(isCell)) bad(`row ${i} holds a value that is not a number, string, null or tagged cell`);
    if (cells[owner] !== runId) bad(`row ${i} belongs to run ${JSON.stringify(cells[owner])}, not ${runId}`);
  }
  return t as BundleTable;
}

function cell(t: BundleTable, row: number, column: string): unknown {
  const i = t.columns.indexOf(column);
  return i < 0 ? undefined : t.rows[row][i];
}

/** The runs row agrees with the manifest on what the import checks rely on. */
export function checkRunRow(t: BundleTable, r: BundleManifest['runs'][number]): void {
  const where = `runs/${r.id}/tables/runs.json`;
  if (t.rows.length !== 1)
    throw new BundleError('BAD_TABLE', `${where} holds ${t.rows.length} rows, not one`);
  const parent = cell(t, 0, 'parent_id') ?? null;
  if (cell(t, 0, 'kind') !== r.kind || parent !== r.parentId || cell(t, 0, 'status') !== r.status)
    throw new BundleError(
      'BAD_TABLE',
      `${where} disagrees with manifest.json on the kind, parent or status of run ${r.id}`,
    );
}

/** Artifact rows must point into the run's own folder, at a bundled file with the recorded hash and size. */
export function checkArtifactRows(
  t: BundleTable,
  runId: string,
  listed: Map<string, { sha256: string; bytes: number }>,
): void {
  const prefix = `${ARTIFACTS_DIR_NAME}/${runId}/`;
  t.rows.forEach((_, i) => {
    const stored = cell(t, i, 'path');
    const bad = (why: string): never => {
      throw new BundleError(
        'BAD_TABLE',
        `runs/${runId}/tables/artifacts.json row ${i} (${JSON.stringify(stored)}): ${why}`,
      );
    };
    if (typeof stored !== 'string' || !stored.startsWith(prefix)) bad(`the path is not inside ${prefix}`);
    const rel = (stored as string).slice(prefix.length);
    try {
      assertSafeArtifactName(rel);
    } catch (err) {
      bad((err as Error).message);
    }
    const f = listed.get(`runs/${runId}/files/${rel}`);
    if (!f) bad('the bundle holds no such file');
    if (f!.sha256 !== cell(t, i, 'sha256') || f!.bytes !== cell(t, i, 'bytes'))
      bad('its sha256 or size differ from the bundled file');
  });
}

/**
 * Inserts one bundled table's rows. Only `runs` and tables this database knows as run-owned are written (a
 * bundle cannot reach other tables, e.g. settings); tables and columns this database lacks are reported.
 */
export function insertTable(
  db: Db,
  owned: ReadonlySet<string>,
  t: BundleTable,
  runId: string,
  warnings: string[],
): void {
  const shape = owned.has(t.table) ? tableShape(db, t.table) : undefined;
  if (!shape) {
    warnings.push(
      `run ${runId}: this data dir has no run table '${t.table}'; its ${t.rows.length} row(s) were not imported`,
    );
    return;
  }
  const unknown = t.columns.filter((c) => !shape.columns.includes(c));
  if (unknown.length > 0)
    warnings.push(
      `run ${runId}: column(s) ${unknown.map((c) => `${t.table}.${c}`).join(', ')} are not in this data dir; left out`,
    );
  const columns = t.columns.filter((c) => shape.columns.includes(c) && c !== shape.rowidAlias);
  const index = columns.map((c) => t.columns.indexOf(c));
  const refs = shape.runRefColumns.filter((c) => columns.includes(c)).map((c) => t.columns.indexOf(c));
  const insert = db.prepare(
    `INSERT INTO ${q(t.table)} (${columns.map(q).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
  );
  const runExists = db.prepare('SELECT 1 FROM runs WHERE id = ?');
  let dropped = 0;
  for (const row of t.rows) {
    // Rows pointing at runs that exist neither here nor in the bundle (e.g. a comparison's baseline) stay out.
    if (t.table !== 'runs' && refs.some((i) => row[i] !== null && !runExists.get(row[i]))) {
      dropped++;
      continue;
    }
    insert.run(...index.map((i) => decodeCell(row[i])));
  }
  if (dropped > 0)
    warnings.push(
      `run ${runId}: ${dropped} ${t.table} row(s) refer to runs that are not in this data dir; left out`,
    );
}
