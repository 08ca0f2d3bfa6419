/**
 * Scalar metrics over training steps, keyed by (run, scope, key, step). `scope` separates the SAEs trained
 * concurrently in one run (the hook name) and is '' for run-level metrics. Re-recording a step (e.g. after a
 * resume from checkpoint) overwrites it.
 *
 * NaN is stored as NULL (SQLite has no NaN) and read back as NaN, so a diverged step stays visible.
 */
import { cachedStatement, type Db } from './db.ts';
import { StoreError } from './errors.ts';

export interface MetricRow {
  runId: string;
  step: number;
  scope?: string;
  key: string;
  value: number;
}

export interface MetricPoint {
  step: number;
  value: number;
}

export interface LatestMetric {
  scope: string;
  key: string;
  step: number;
  value: number;
}

export interface MetricKey {
  scope: string;
  key: string;
  points: number;
}

/** Records `{key: value}` of one step in one transaction; returns the number of rows written. */
export function recordMetrics(
  db: Db,
  runId: string,
  step: number,
  scope: string,
  values: Readonly<Record<string, number>>,
): number {
  return recordMetricRows(
    db,
    Object.entries(values).map(([key, value]) => ({ runId, step, scope, key, value })),
  );
}

/**
 * Records many rows (any runs, steps, scopes) in one transaction with one prepared statement: a single
 * transaction turns thousands of fsyncs into one, which is what makes bulk logging fast.
 */
export function recordMetricRows(db: Db, rows: Iterable<MetricRow>): number {
  const upsert = cachedStatement(
    db,
    `INSERT INTO metrics (run_id, scope, key, step, value) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (run_id, scope, key, step) DO UPDATE SET value = excluded.value`,
  );
  const runExists = cachedStatement(db, 'SELECT 1 FROM runs WHERE id = ?');
  return db
    .transaction(() => {
      const checkedRuns = new Set<string>();
      let written = 0;
      for (const row of rows) {
        validate(row);
        if (!checkedRuns.has(row.runId)) {
          // Checked here for a clear message; the foreign key alone would only say "constraint failed".
          if (!runExists.get(row.runId)) throw new StoreError('RUN_NOT_FOUND', `Run ${row.runId} not found`);
          checkedRuns.add(row.runId);
        }
        upsert.run(row.runId, row.scope ?? '', row.key, row.step, Number.isNaN(row.value) ? null : row.value);
        written++;
      }
      return written;
    })
    .immediate();
}

/** One metric of one scope, in step order. */
export function getMetricSeries(db: Db, runId: string, key: string, scope = ''): MetricPoint[] {
  const rows = cachedStatement(
    db,
    'SELECT step, value FROM metrics WHERE run_id = ? AND scope = ? AND key = ? ORDER BY step',
  ).all(runId, scope, key) as { step: number; value: number | null }[];
  return rows.map((r) => ({ step: r.step, value: r.value ?? Number.NaN }));
}

/** For every (scope, key) of a run, the value at its highest step. */
export function latestMetrics(db: Db, runId: string): LatestMetric[] {
  // SQLite guarantees that bare columns in a MAX() aggregate come from the row holding the maximum.
  const rows = cachedStatement(
    db,
    `SELECT scope, key, MAX(step) AS step, value FROM metrics WHERE run_id = ?
     GROUP BY scope, key ORDER BY scope, key`,
  ).all(runId) as { scope: string; key: string; step: number; value: number | null }[];
  return rows.map((r) => ({ ...r, value: r.value ?? Number.NaN }));
}

/** Which metrics a run has, for chart pickers. */
export function listMetricKeys(db: Db, runId: string): MetricKey[] {
  return cachedStatement(
    db,
    `SELECT scope, key, COUNT(*) AS points FROM metrics WHERE run_id = ? GROUP BY scope, key ORDER BY scope, key`,
  ).all(runId) as MetricKey[];
}

function validate(row: MetricRow): void {
  const bad = (why: string): never => {
    throw new StoreError(
      'INVALID_METRIC',
      `Invalid metric ${JSON.stringify(row.key)} at step ${row.step}: ${why}`,
    );
  };
  if (typeof row.key !== 'string' || row.key.length === 0) bad('key must be a non-empty string');
  if (!Number.isSafeInteger(row.step) || row.step < 0) bad('step must be a non-negative integer');
  if (typeof row.value !== 'number') bad(`value must be a number, got ${typeof row.value}`);
  if (row.scope !== undefined && typeof row.scope !== 'string') bad('scope must be a string');
}
