/**
 * What the run table and run pages read beyond single rows: filtered / sorted / grouped pages in SQL, facet
 * counts, lineage, status history, user metadata (name, note, tags), the queue order and app settings.
 */
import type { RunQuerySchema } from '../../src-shared/runs.ts';
import type { z } from 'zod';
import { cachedStatement, type Db } from './db.ts';
import { StoreError } from './errors.ts';
import { RUN_SELECT, requireRun, toRecord, type RunRecord, type RunRow, type RunStatus } from './runs.ts';

export type RunQueryInput = z.infer<typeof RunQuerySchema>;

/** SQL for each sort key; metric keys sort runs without the value last in either direction. */
const SORT_SQL: Record<RunQueryInput['sort'], string> = {
  created: 'runs.created_at',
  name: 'runs.name COLLATE NOCASE',
  kind: 'runs.kind',
  status: 'runs.status',
  seed: 'runs.seed',
  backend: 'runs.backend',
  wall: 'runs.wall_seconds',
  arch: 'runs.arch',
  setup: 'runs.setup',
  val_loss: `json_extract(runs.headline_json, '$.val_loss')`,
  explained_variance: `json_extract(runs.headline_json, '$.explained_variance')`,
  l0: `json_extract(runs.headline_json, '$.l0')`,
  ce_loss_increase: `json_extract(runs.headline_json, '$.ce_loss_increase')`,
  auc_abs: `json_extract(runs.headline_json, '$.auc_abs')`,
  auc_rel: `json_extract(runs.headline_json, '$.auc_rel')`,
};
const GROUP_SQL: Record<NonNullable<RunQueryInput['groupBy']>, string> = {
  arch: 'runs.arch',
  setup: 'runs.setup',
  seed: 'runs.seed',
  kind: 'runs.kind',
};

function whereOf(q: Partial<RunQueryInput>): { where: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const oneOf = (column: string, values: readonly string[] | undefined) => {
    if (!values || values.length === 0) return;
    clauses.push(`${column} IN (${values.map(() => '?').join(', ')})`);
    params.push(...values);
  };
  oneOf('runs.kind', q.kinds);
  oneOf('runs.status', q.statuses);
  oneOf('runs.arch', q.archs);
  oneOf('runs.setup', q.setups);
  if (q.parentId) {
    clauses.push('runs.parent_id = ?');
    params.push(q.parentId);
  }
  if (q.tag) {
    clauses.push('EXISTS (SELECT 1 FROM run_tags t WHERE t.run_id = runs.id AND t.tag = ?)');
    params.push(q.tag);
  }
  const search = q.search?.trim();
  if (search) {
    // LIKE is case-insensitive for ASCII; escape its wildcards so '_' in 'blocks_0' means an underscore.
    const pattern = `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    clauses.push(
      `(runs.name LIKE ?1 ESCAPE '\\' OR runs.id LIKE ?1 ESCAPE '\\' OR runs.note LIKE ?1 ESCAPE '\\'
        OR runs.config_json LIKE ?1 ESCAPE '\\'
        OR EXISTS (SELECT 1 FROM run_tags t WHERE t.run_id = runs.id AND t.tag LIKE ?1 ESCAPE '\\'))`.replaceAll(
        '?1',
        '?',
      ),
    );
    params.push(pattern, pattern, pattern, pattern, pattern);
  }
  return { where: clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : '', params };
}

export function queryRuns(db: Db, q: RunQueryInput): { total: number; rows: RunRecord[] } {
  const { where, params } = whereOf(q);
  const dir = q.dir === 'asc' ? 'ASC' : 'DESC';
  const sortSql = SORT_SQL[q.sort];
  // NULLs last whichever way the column sorts; the group key first so groups are contiguous.
  const order = [
    ...(q.groupBy ? [`${GROUP_SQL[q.groupBy]} IS NULL`, `${GROUP_SQL[q.groupBy]} ASC`] : []),
    `${sortSql} IS NULL`,
    `${sortSql} ${dir}`,
    `runs.created_at DESC`,
    `runs.id DESC`,
  ].join(', ');
  const rows = db
    .prepare(`${RUN_SELECT} FROM runs ${where} ORDER BY ${order} LIMIT ? OFFSET ?`)
    .all(...params, q.limit, q.offset) as RunRow[];
  const total = (db.prepare(`SELECT COUNT(*) AS n FROM runs ${where}`).get(...params) as { n: number }).n;
  return { total, rows: rows.map(toRecord) };
}

export interface Facets {
  kinds: { value: string; count: number }[];
  statuses: { value: string; count: number }[];
  archs: { value: string; count: number }[];
  setups: { value: string; count: number }[];
  tags: { value: string; count: number }[];
}

export function runFacets(db: Db): Facets {
  const count = (column: string) =>
    db
      .prepare(
        `SELECT ${column} AS value, COUNT(*) AS count FROM runs WHERE ${column} IS NOT NULL
         GROUP BY ${column} ORDER BY count DESC, value`,
      )
      .all() as { value: string; count: number }[];
  return {
    kinds: count('kind'),
    statuses: count('status'),
    archs: count('arch'),
    setups: count('setup'),
    tags: db
      .prepare(`SELECT tag AS value, COUNT(*) AS count FROM run_tags GROUP BY tag ORDER BY count DESC, tag`)
      .all() as { value: string; count: number }[],
  };
}

export interface RunMetaUpdate {
  name?: string;
  note?: string;
  tags?: string[];
}

export function updateRunMeta(db: Db, id: string, update: RunMetaUpdate): RunRecord {
  return db
    .transaction(() => {
      requireRun(db, id);
      if (update.name !== undefined)
        cachedStatement(db, 'UPDATE runs SET name = ? WHERE id = ?').run(update.name.trim(), id);
      if (update.note !== undefined)
        cachedStatement(db, 'UPDATE runs SET note = ? WHERE id = ?').run(update.note, id);
      if (update.tags !== undefined) {
        cachedStatement(db, 'DELETE FROM run_tags WHERE run_id = ?').run(id);
        const insert = cachedStatement(db, 'INSERT OR IGNORE INTO run_tags (run_id, tag) VALUES (?, ?)');
        for (const tag of update.tags) insert.run(id, tag);
      }
      return requireRun(db, id);
    })
    .immediate();
}

export interface RunRefRow {
  id: string;
  kind: string;
  name: string;
  status: RunStatus;
}

/** Parent, grandparent, … (nearest first). */
export function ancestorsOf(db: Db, id: string): RunRefRow[] {
  return db
    .prepare(
      `WITH RECURSIVE up(id, depth) AS (
         SELECT parent_id, 1 FROM runs WHERE id = ? AND parent_id IS NOT NULL
         UNION ALL SELECT runs.parent_id, up.depth + 1 FROM runs JOIN up ON runs.id = up.id
           WHERE runs.parent_id IS NOT NULL AND up.depth < 50)
       SELECT runs.id, runs.kind, runs.name, runs.status FROM up JOIN runs USING (id) ORDER BY up.depth`,
    )
    .all(id) as RunRefRow[];
}

export function childrenOf(db: Db, id: string): RunRefRow[] {
  return db
    .prepare(`SELECT id, kind, name, status FROM runs WHERE parent_id = ? ORDER BY created_at, id`)
    .all(id) as RunRefRow[];
}

/** Every descendant of the given runs that is not itself one of them. */
export function dependentsOf(db: Db, ids: string[]): RunRefRow[] {
  return db
    .prepare(
      `WITH RECURSIVE family(id) AS (
         SELECT value FROM json_each(?)
         UNION SELECT runs.id FROM runs JOIN family ON runs.parent_id = family.id)
       SELECT runs.id, runs.kind, runs.name, runs.status FROM runs JOIN family USING (id)
       WHERE runs.id NOT IN (SELECT value FROM json_each(?)) ORDER BY runs.created_at`,
    )
    .all(JSON.stringify(ids), JSON.stringify(ids)) as RunRefRow[];
}

export function statusHistory(db: Db, id: string): { at: string; status: RunStatus; error: string | null }[] {
  return db
    .prepare(`SELECT at, status, error FROM run_status_history WHERE run_id = ? ORDER BY at, rowid`)
    .all(id) as { at: string; status: RunStatus; error: string | null }[];
}

/** Queued runs in the order they start. */
export function queuedRuns(db: Db): RunRecord[] {
  return (
    db
      .prepare(
        `${RUN_SELECT} FROM runs WHERE status = 'queued' ORDER BY queue_pos IS NULL, queue_pos, created_at`,
      )
      .all() as RunRow[]
  ).map(toRecord);
}

/** Moves a queued run to `index` in the queue order (clamped); positions are renumbered 1…n. */
export function moveQueuedRun(db: Db, id: string, index: number): void {
  db.transaction(() => {
    const run = requireRun(db, id);
    if (run.status !== 'queued')
      throw new StoreError(
        'INVALID_TRANSITION',
        `Run ${id} is ${run.status}; only queued runs can be reordered`,
      );
    const order = queuedRuns(db)
      .map((r) => r.id)
      .filter((x) => x !== id);
    order.splice(Math.max(0, Math.min(index, order.length)), 0, id);
    const set = cachedStatement(db, 'UPDATE runs SET queue_pos = ? WHERE id = ?');
    order.forEach((runId, i) => set.run(i + 1, runId));
  }).immediate();
}

export function getSetting<T>(db: Db, key: string, fallback: T): T {
  const row = cachedStatement(db, 'SELECT value_json FROM settings WHERE key = ?').get(key) as
    { value_json: string } | undefined;
  return row ? (JSON.parse(row.value_json) as T) : fallback;
}

export function setSetting(db: Db, key: string, value: unknown): void {
  cachedStatement(
    db,
    'INSERT INTO settings (key, value_json) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value_json = excluded.value_json',
  ).run(key, JSON.stringify(value));
}
