/** SCALAR results in the store: curve points per (run, pair, target) and each pair's top-ranked edges. */
import { cachedStatement, type Db } from './db.ts';

export interface CurvePoint {
  n: number;
  mean: number;
  lo: number;
  hi: number;
}

export interface EdgeRow {
  rank: number;
  i: number;
  j: number;
  score: number;
}

export function recordScalarCurve(
  db: Db,
  runId: string,
  pair: string,
  target: string,
  points: CurvePoint[],
): void {
  const insert = cachedStatement(
    db,
    'INSERT OR REPLACE INTO scalar_curves (run_id, pair, target, n, mean, lo, hi) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  db.transaction(() => {
    for (const p of points) insert.run(runId, pair, target, p.n, p.mean, p.lo, p.hi);
  }).immediate();
}

export function getScalarCurves(
  db: Db,
  runId: string,
): { pair: string; target: string; points: CurvePoint[] }[] {
  const rows = cachedStatement(
    db,
    'SELECT pair, target, n, mean, lo, hi FROM scalar_curves WHERE run_id = ? ORDER BY pair, target, n',
  ).all(runId) as ({ pair: string; target: string } & CurvePoint)[];
  const byKey = new Map<string, { pair: string; target: string; points: CurvePoint[] }>();
  for (const r of rows) {
    const key = `${r.pair}\u0000${r.target}`;
    if (!byKey.has(key)) byKey.set(key, { pair: r.pair, target: r.target, points: [] });
    byKey.get(key)!.points.push({ n: r.n, mean: r.mean, lo: r.lo, hi: r.hi });
  }
  return [...byKey.values()];
}

/** Rows per write transaction: short ones, so another process sharing the database never waits long. */
const EDGE_CHUNK = 4096;

/** Replaces a pair's stored edges with `edges` (ranks from 0), written in short transactions. */
export function recordEdges(
  db: Db,
  runId: string,
  pair: string,
  edges: { i: ArrayLike<number>; j: ArrayLike<number>; score: ArrayLike<number> },
): number {
  const insert = cachedStatement(
    db,
    'INSERT INTO edges (run_id, pair, rank, i, j, score) VALUES (?, ?, ?, ?, ?, ?)',
  );
  cachedStatement(db, 'DELETE FROM edges WHERE run_id = ? AND pair = ?').run(runId, pair);
  for (let start = 0; start < edges.i.length; start += EDGE_CHUNK) {
    db.transaction(() => {
      for (let r = start; r < Math.min(edges.i.length, start + EDGE_CHUNK); r++)
        insert.run(runId, pair, r, edges.i[r], edges.j[r], edges.score[r]);
    }).immediate();
  }
  return edges.i.length;
}

/** Edges of a pair by rank; `latent` restricts to the in- or out-edges of one latent. */
export function getEdges(
  db: Db,
  runId: string,
  pair: string,
  opts: { limit?: number; upstream?: number; downstream?: number } = {},
): EdgeRow[] {
  const limit = opts.limit ?? 1000;
  if (opts.upstream !== undefined) {
    return cachedStatement(
      db,
      'SELECT rank, i, j, score FROM edges WHERE run_id = ? AND pair = ? AND i = ? ORDER BY rank LIMIT ?',
    ).all(runId, pair, opts.upstream, limit) as EdgeRow[];
  }
  if (opts.downstream !== undefined) {
    return cachedStatement(
      db,
      'SELECT rank, i, j, score FROM edges WHERE run_id = ? AND pair = ? AND j = ? ORDER BY rank LIMIT ?',
    ).all(runId, pair, opts.downstream, limit) as EdgeRow[];
  }
  return cachedStatement(
    db,
    'SELECT rank, i, j, score FROM edges WHERE run_id = ? AND pair = ? ORDER BY rank LIMIT ?',
  ).all(runId, pair, limit) as EdgeRow[];
}

export interface ComparisonRow {
  runId: string;
  baselineRunId: string;
  setup: string;
  pair: string;
  metric: string;
  value: number;
  meta?: unknown;
}

export function recordComparisons(db: Db, rows: ComparisonRow[]): void {
  const insert = cachedStatement(
    db,
    'INSERT INTO comparisons (run_id, baseline_run_id, setup, pair, metric, value, meta_json) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  db.transaction(() => {
    for (const r of rows)
      insert.run(
        r.runId,
        r.baselineRunId,
        r.setup,
        r.pair,
        r.metric,
        r.value,
        r.meta === undefined ? null : JSON.stringify(r.meta),
      );
  }).immediate();
}

export function getComparisons(db: Db, runId: string): ComparisonRow[] {
  const rows = cachedStatement(
    db,
    'SELECT run_id, baseline_run_id, setup, pair, metric, value, meta_json FROM comparisons WHERE run_id = ? OR baseline_run_id = ? ORDER BY id',
  ).all(runId, runId) as {
    run_id: string;
    baseline_run_id: string;
    setup: string;
    pair: string;
    metric: string;
    value: number;
    meta_json: string | null;
  }[];
  return rows.map((r) => ({
    runId: r.run_id,
    baselineRunId: r.baseline_run_id,
    setup: r.setup,
    pair: r.pair,
    metric: r.metric,
    value: r.value,
    meta: r.meta_json ? JSON.parse(r.meta_json) : undefined,
  }));
}
