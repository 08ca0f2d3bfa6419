/**
 * Latent statistics, labels, Jacobian entries, latent matches and per-latent / top-N edge queries (issue 10).
 *
 * Ownership: statistics rows belong to a `latents` run (a child of the SAE run they describe), so recomputing
 * them is a new run and deleting it removes them; labels belong to the SAE run (table `labels`, schema v2, and
 * `latent_notes` beside it), so they survive a recomputation; matches belong to both SAE runs they relate.
 */
import type {
  JacobianRows,
  LatentContextRow,
  LatentContextsRow,
  LatentHookRow,
  LatentLogitRow,
  LatentRowsBatch,
  LatentSummaryRow,
} from '../../src-shared/latents.ts';
import { cachedStatement, type Db } from './db.ts';

export const LATENTS_RUN_KIND = 'latents';

const TABLES = [
  'latent_sets',
  'latent_windows',
  'latent_summary',
  'latent_histograms',
  'latent_contexts',
  'latent_logits',
  'latent_jacobian_pairs',
  'latent_jacobian',
] as const;

// ---------------------------------------------------------------------------------------------------------
// Writing (the JobManager, from the latent-stats job's messages)
// ---------------------------------------------------------------------------------------------------------

const int32Blob = (a: Int32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/**
 * Binary list of a latent's contexts (little-endian), one record each:
 *   u8 kind (0 top, 1 quantile) · u8 index · i16 bucket (−1: none) · f32 act · f32 bucketLo · f32 bucketHi
 *   (NaN: none) · u32 seq · u16 pos · u16 start · u16 len · u16 nnz · nnz × u16 offset in the window ·
 *   nnz × f32 activation
 * (the window's token ids are in latent_windows; only the latent's non-zero activations are kept).
 */
export function encodeContexts(contexts: LatentContextRow[]): Buffer {
  const sizes = contexts.map((c) => 28 + 6 * c.acts.filter((a) => a !== 0).length);
  const buf = Buffer.alloc(sizes.reduce((a, b) => a + b, 0));
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = 0;
  for (const c of contexts) {
    const nz: number[] = [];
    c.acts.forEach((a, x) => a !== 0 && nz.push(x));
    v.setUint8(at, c.kind === 'top' ? 0 : 1);
    v.setUint8(at + 1, c.index);
    v.setInt16(at + 2, c.bucket ?? -1, true);
    v.setFloat32(at + 4, c.act, true);
    v.setFloat32(at + 8, c.bucketLo ?? NaN, true);
    v.setFloat32(at + 12, c.bucketHi ?? NaN, true);
    v.setUint32(at + 16, c.seq, true);
    v.setUint16(at + 20, c.pos, true);
    v.setUint16(at + 22, c.start, true);
    v.setUint16(at + 24, c.len, true);
    v.setUint16(at + 26, nz.length, true);
    at += 28;
    nz.forEach((x, r) => {
      v.setUint16(at + 2 * r, x, true);
      v.setFloat32(at + 2 * nz.length + 4 * r, c.acts[x], true);
    });
    at += 6 * nz.length;
  }
  return buf;
}

export function decodeContexts(buf: Buffer): LatentContextRow[] {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: LatentContextRow[] = [];
  let at = 0;
  while (at < buf.byteLength) {
    const len = v.getUint16(at + 24, true);
    const nnz = v.getUint16(at + 26, true);
    const lo = v.getFloat32(at + 8, true);
    const hi = v.getFloat32(at + 12, true);
    const bucket = v.getInt16(at + 2, true);
    const c: LatentContextRow = {
      kind: v.getUint8(at) === 0 ? 'top' : 'quantile',
      index: v.getUint8(at + 1),
      bucket: bucket < 0 ? null : bucket,
      act: v.getFloat32(at + 4, true),
      bucketLo: Number.isNaN(lo) ? null : lo,
      bucketHi: Number.isNaN(hi) ? null : hi,
      seq: v.getUint32(at + 16, true),
      pos: v.getUint16(at + 20, true),
      start: v.getUint16(at + 22, true),
      len,
      acts: new Float32Array(len),
    };
    at += 28;
    for (let x = 0; x < nnz; x++)
      c.acts[v.getUint16(at + 2 * x, true)] = v.getFloat32(at + 2 * nnz + 4 * x, true);
    at += 6 * nnz;
    out.push(c);
  }
  return out;
}

/** (int32 id, float32 value) pairs. */
function pairsBlob(ids: Int32Array, values: Float32Array): Buffer {
  const buf = Buffer.alloc(8 * ids.length);
  for (let x = 0; x < ids.length; x++) {
    buf.writeInt32LE(ids[x], 8 * x);
    buf.writeFloatLE(values[x], 8 * x + 4);
  }
  return buf;
}

function pairsOf(buf: Buffer): { id: number; value: number }[] {
  const out = [];
  for (let at = 0; at + 8 <= buf.byteLength; at += 8)
    out.push({ id: buf.readInt32LE(at), value: buf.readFloatLE(at + 4) });
  return out;
}

/** Writes one message of rows of latents run `runId` in one transaction. */
export function recordLatentRows(db: Db, runId: string, batch: LatentRowsBatch): void {
  db.transaction(() => {
    if (batch.reset) for (const t of TABLES) db.prepare(`DELETE FROM ${t} WHERE run_id = ?`).run(runId);
    if (batch.windows)
      cachedStatement(
        db,
        'INSERT OR REPLACE INTO latent_windows (run_id, seqs, seq_len, tokenizer, ids) VALUES (?, ?, ?, ?, ?)',
      ).run(
        runId,
        batch.windows.seqs,
        batch.windows.seqLen,
        batch.windows.tokenizer,
        int32Blob(batch.windows.ids),
      );
    for (const h of batch.hooks ?? []) writeHook(db, runId, h);
    if (batch.summaries) writeSummaries(db, runId, batch.summaries.hook, batch.summaries.rows);
    if (batch.contexts) writeContexts(db, runId, batch.contexts.hook, batch.contexts.rows);
    if (batch.logits) writeLogits(db, runId, batch.logits.hook, batch.logits.rows);
    if (batch.jacobian) writeJacobian(db, runId, batch.jacobian);
  }).immediate();
}

function writeHook(db: Db, runId: string, h: LatentHookRow): void {
  cachedStatement(
    db,
    `INSERT OR REPLACE INTO latent_sets (run_id, hook, width, chunk, position, k, tokens, dead, dense, tokenizer,
       logit_effects, logit_note, hist_min_log10, hist_max_log10, hist_bins_per_decade, meta_json)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    runId,
    h.hook,
    h.width,
    h.chunk,
    h.position,
    h.k,
    h.tokens,
    h.dead,
    h.dense,
    h.tokenizer,
    h.logitEffects ? 1 : 0,
    h.logitNote,
    h.histMinLog10,
    h.histMaxLog10,
    h.histBinsPerDecade,
    JSON.stringify(h.meta),
  );
}

function writeSummaries(db: Db, runId: string, hook: string, rows: LatentSummaryRow[]): void {
  const s = cachedStatement(
    db,
    `INSERT OR REPLACE INTO latent_summary (run_id, hook, latent, count, freq, mean_act, max_act, dead, dense, chunk,
       top_tokens_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const hist = cachedStatement(
    db,
    'INSERT OR REPLACE INTO latent_histograms (run_id, hook, latent, first_bin, counts_json) VALUES (?, ?, ?, ?, ?)',
  );
  for (const r of rows) {
    s.run(
      runId,
      hook,
      r.latent,
      r.count,
      r.freq,
      r.meanAct,
      r.maxAct,
      r.dead ? 1 : 0,
      r.dense ? 1 : 0,
      r.chunk,
      JSON.stringify(r.topTokens),
    );
    hist.run(runId, hook, r.latent, r.histFirst, JSON.stringify(r.hist));
  }
}

function writeContexts(db: Db, runId: string, hook: string, rows: LatentContextsRow[]): void {
  const s = cachedStatement(
    db,
    'INSERT OR REPLACE INTO latent_contexts (run_id, hook, latent, count, data) VALUES (?, ?, ?, ?, ?)',
  );
  for (const r of rows) s.run(runId, hook, r.latent, r.contexts.length, encodeContexts(r.contexts));
}

function writeLogits(db: Db, runId: string, hook: string, rows: LatentLogitRow[]): void {
  const s = cachedStatement(
    db,
    'INSERT OR REPLACE INTO latent_logits (run_id, hook, latent, top, bottom) VALUES (?, ?, ?, ?, ?)',
  );
  for (const r of rows)
    s.run(runId, hook, r.latent, pairsBlob(r.topIds, r.topValues), pairsBlob(r.bottomIds, r.bottomValues));
}

function writeJacobian(db: Db, runId: string, j: JacobianRows): void {
  cachedStatement(
    db,
    'INSERT OR REPLACE INTO latent_jacobian_pairs (run_id, pair, up, down, tokens) VALUES (?, ?, ?, ?, ?)',
  ).run(runId, j.pair, j.up, j.down, j.tokens);
  const s = cachedStatement(
    db,
    'INSERT OR REPLACE INTO latent_jacobian (run_id, pair, i, j, mean_abs, mean, rank) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  for (let r = 0; r < j.i.length; r++)
    s.run(runId, j.pair, j.i[r], j.j[r], j.meanAbs[r], j.mean[r], j.rank[r]);
}

// ---------------------------------------------------------------------------------------------------------
// Which latents run describes an SAE run
// ---------------------------------------------------------------------------------------------------------

export interface LatentsRunRef {
  id: string;
  status: string;
  progress: Record<string, unknown> | null;
  error: string | null;
}

/** The newest latents run of an SAE run (any status), and the newest completed one (whose rows are read). */
export function latentsRunsOf(
  db: Db,
  saeRunId: string,
): { newest: LatentsRunRef | null; completed: string | null } {
  const rows = cachedStatement(
    db,
    `SELECT id, status, progress_json, error FROM runs WHERE parent_id = ? AND kind = '${LATENTS_RUN_KIND}'
     ORDER BY created_at DESC, id DESC`,
  ).all(saeRunId) as { id: string; status: string; progress_json: string | null; error: string | null }[];
  const first = rows[0];
  return {
    newest: first
      ? {
          id: first.id,
          status: first.status,
          progress: first.progress_json ? (JSON.parse(first.progress_json) as Record<string, unknown>) : null,
          error: first.error,
        }
      : null,
    completed: rows.find((r) => r.status === 'completed')?.id ?? null,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------------------

export interface LatentSetRow extends LatentHookRow {
  edges: number[];
}

function histEdges(min: number, max: number, perDecade: number): number[] {
  const edges = [0];
  for (let b = 0; b <= (max - min) * perDecade; b++) edges.push(10 ** (min + b / perDecade));
  edges.push(Infinity);
  return edges;
}

interface SetDbRow {
  hook: string;
  width: number;
  chunk: number | null;
  position: number;
  k: number;
  tokens: number;
  dead: number;
  dense: number;
  tokenizer: string;
  logit_effects: number;
  logit_note: string;
  hist_min_log10: number;
  hist_max_log10: number;
  hist_bins_per_decade: number;
  meta_json: string | null;
}

function toSet(r: SetDbRow): LatentSetRow {
  return {
    hook: r.hook,
    width: r.width,
    chunk: r.chunk,
    position: r.position,
    k: r.k,
    tokens: r.tokens,
    dead: r.dead,
    dense: r.dense,
    tokenizer: r.tokenizer,
    logitEffects: r.logit_effects === 1,
    logitNote: r.logit_note,
    histMinLog10: r.hist_min_log10,
    histMaxLog10: r.hist_max_log10,
    histBinsPerDecade: r.hist_bins_per_decade,
    meta: r.meta_json ? (JSON.parse(r.meta_json) as Record<string, unknown>) : {},
    edges: histEdges(r.hist_min_log10, r.hist_max_log10, r.hist_bins_per_decade),
  };
}

export function latentSets(db: Db, statsRunId: string): LatentSetRow[] {
  return (
    cachedStatement(db, 'SELECT * FROM latent_sets WHERE run_id = ?').all(statsRunId) as SetDbRow[]
  ).map(toSet);
}

export function latentSet(db: Db, statsRunId: string, hook: string): LatentSetRow | undefined {
  const r = cachedStatement(db, 'SELECT * FROM latent_sets WHERE run_id = ? AND hook = ?').get(
    statsRunId,
    hook,
  ) as SetDbRow | undefined;
  return r ? toSet(r) : undefined;
}

/** SAELens' feature-density histogram: latents by log10(frequency) in decade-fifths; dead ones are not in it. */
export function densityHistogram(
  db: Db,
  statsRunId: string,
  hook: string,
  binsPerDecade = 5,
): { edges: number[]; counts: number[] } {
  const rows = cachedStatement(
    db,
    'SELECT freq FROM latent_summary WHERE run_id = ? AND hook = ? AND dead = 0',
  ).all(statsRunId, hook) as { freq: number }[];
  if (rows.length === 0) return { edges: [], counts: [] };
  const logs = rows.map((r) => Math.log10(r.freq));
  const lo = Math.floor(Math.min(...logs) * binsPerDecade) / binsPerDecade;
  const hi = Math.max(lo + 1 / binsPerDecade, Math.ceil(Math.max(...logs) * binsPerDecade) / binsPerDecade);
  const nb = Math.max(1, Math.round((hi - lo) * binsPerDecade));
  const edges = Array.from({ length: nb + 1 }, (_, b) => lo + b / binsPerDecade);
  const counts = new Array<number>(nb).fill(0);
  for (const x of logs) counts[Math.min(nb - 1, Math.max(0, Math.floor((x - lo) * binsPerDecade + 1e-9)))]++;
  return { edges, counts };
}

export type LatentSort = 'id' | 'freq' | 'max' | 'mean';
export type LatentFilter = 'all' | 'alive' | 'dead' | 'dense' | 'labelled';

export interface LatentListRow {
  id: number;
  freq: number;
  meanAct: number | null;
  maxAct: number;
  dead: boolean;
  dense: boolean;
  chunk: number | null;
  topTokens: string[];
  label: string | null;
}

const SORT_COLUMN: Record<LatentSort, string> = {
  id: 's.latent',
  freq: 's.freq',
  max: 's.max_act',
  mean: 's.mean_act',
};

/** One page of an SAE's latents (statistics of `statsRunId`, labels of `saeRunId`), filtered and sorted in SQL. */
export function listLatents(
  db: Db,
  statsRunId: string,
  saeRunId: string,
  hook: string,
  q: {
    sort?: LatentSort;
    desc?: boolean;
    search?: string;
    filter?: LatentFilter;
    ids?: number[];
    offset?: number;
    limit?: number;
  } = {},
): { total: number; rows: LatentListRow[] } {
  const where = ['s.run_id = @stats', 's.hook = @hook'];
  const params: Record<string, unknown> = { stats: statsRunId, sae: saeRunId, hook };
  const filter = q.filter ?? 'all';
  if (filter === 'alive') where.push('s.dead = 0');
  if (filter === 'dead') where.push('s.dead = 1');
  if (filter === 'dense') where.push('s.dense = 1');
  if (filter === 'labelled') where.push('l.text IS NOT NULL');
  if (q.search && q.search.trim()) {
    where.push(`(l.text LIKE @search ESCAPE '\\' OR n.note LIKE @search ESCAPE '\\')`);
    params.search = `%${q.search.trim().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  }
  if (q.ids) {
    where.push('s.latent IN (SELECT value FROM json_each(@ids))');
    params.ids = JSON.stringify(q.ids);
  }
  const from = `FROM latent_summary s
    LEFT JOIN labels l ON l.run_id = @sae AND l.hook = s.hook AND l.latent = s.latent
    LEFT JOIN latent_notes n ON n.run_id = @sae AND n.hook = s.hook AND n.latent = s.latent
    WHERE ${where.join(' AND ')}`;
  const total = (db.prepare(`SELECT COUNT(*) AS n ${from}`).get(params) as { n: number }).n;
  const col = SORT_COLUMN[q.sort ?? 'id'];
  const dir = q.desc ? 'DESC' : 'ASC';
  const rows = db
    .prepare(
      `SELECT s.latent, s.freq, s.mean_act, s.max_act, s.dead, s.dense, s.chunk, s.top_tokens_json, l.text AS label
       ${from} ORDER BY (${col} IS NULL), ${col} ${dir}, s.latent ${dir} LIMIT @limit OFFSET @offset`,
    )
    .all({ ...params, limit: q.limit ?? 50, offset: q.offset ?? 0 }) as SummaryDbRow[];
  return { total, rows: rows.map(toListRow) };
}

interface SummaryDbRow {
  latent: number;
  freq: number;
  mean_act: number | null;
  max_act: number;
  dead: number;
  dense: number;
  chunk: number | null;
  top_tokens_json: string;
  label: string | null;
  count?: number;
}

function toListRow(r: SummaryDbRow): LatentListRow {
  return {
    id: r.latent,
    freq: r.freq,
    meanAct: r.mean_act,
    maxAct: r.max_act,
    dead: r.dead === 1,
    dense: r.dense === 1,
    chunk: r.chunk,
    topTokens: JSON.parse(r.top_tokens_json) as string[],
    label: r.label,
  };
}

/** One latent's summary row (with its count), or undefined. */
export function latentSummary(
  db: Db,
  statsRunId: string,
  saeRunId: string,
  hook: string,
  latent: number,
): (LatentListRow & { count: number }) | undefined {
  const r = cachedStatement(
    db,
    `SELECT s.*, l.text AS label FROM latent_summary s
     LEFT JOIN labels l ON l.run_id = ? AND l.hook = s.hook AND l.latent = s.latent
     WHERE s.run_id = ? AND s.hook = ? AND s.latent = ?`,
  ).get(saeRunId, statsRunId, hook, latent) as (SummaryDbRow & { count: number }) | undefined;
  return r ? { ...toListRow(r), count: r.count } : undefined;
}

/** Node info for a set of latents of one hook (statistics when there are some, labels always). */
export function latentNodes(
  db: Db,
  statsRunId: string | null,
  saeRunId: string,
  hook: string,
  ids: number[],
): Map<
  number,
  {
    freq: number | null;
    maxAct: number | null;
    chunk: number | null;
    topTokens: string[];
    label: string | null;
  }
> {
  const out = new Map<
    number,
    {
      freq: number | null;
      maxAct: number | null;
      chunk: number | null;
      topTokens: string[];
      label: string | null;
    }
  >();
  for (const id of ids) out.set(id, { freq: null, maxAct: null, chunk: null, topTokens: [], label: null });
  const json = JSON.stringify(ids);
  if (statsRunId) {
    const rows = cachedStatement(
      db,
      `SELECT latent, freq, max_act, chunk, top_tokens_json FROM latent_summary
       WHERE run_id = ? AND hook = ? AND latent IN (SELECT value FROM json_each(?))`,
    ).all(statsRunId, hook, json) as {
      latent: number;
      freq: number;
      max_act: number;
      chunk: number | null;
      top_tokens_json: string;
    }[];
    for (const r of rows)
      Object.assign(out.get(r.latent)!, {
        freq: r.freq,
        maxAct: r.max_act,
        chunk: r.chunk,
        topTokens: JSON.parse(r.top_tokens_json) as string[],
      });
  }
  for (const [id, text] of labelsOf(db, saeRunId, hook, ids)) out.get(id)!.label = text;
  return out;
}

export function latentHistogram(
  db: Db,
  statsRunId: string,
  hook: string,
  latent: number,
  nBins: number,
): number[] {
  const r = cachedStatement(
    db,
    'SELECT first_bin, counts_json FROM latent_histograms WHERE run_id = ? AND hook = ? AND latent = ?',
  ).get(statsRunId, hook, latent) as { first_bin: number; counts_json: string } | undefined;
  const counts = new Array<number>(nBins).fill(0);
  if (r) (JSON.parse(r.counts_json) as number[]).forEach((c, b) => (counts[r.first_bin + b] = c));
  return counts;
}

export interface StoredContext extends Omit<LatentContextRow, 'acts'> {
  ids: number[];
  acts: number[];
}

/** Token ids of a latents run's evaluation windows (cached per connection: read once per run). */
const windowCache = new WeakMap<Db, Map<string, { seqLen: number; ids: Int32Array }>>();

function windowsOf(db: Db, statsRunId: string): { seqLen: number; ids: Int32Array } | undefined {
  let byRun = windowCache.get(db);
  if (!byRun) windowCache.set(db, (byRun = new Map()));
  if (!byRun.has(statsRunId)) {
    const r = cachedStatement(db, 'SELECT seq_len, ids FROM latent_windows WHERE run_id = ?').get(
      statsRunId,
    ) as { seq_len: number; ids: Buffer } | undefined;
    if (!r) return undefined;
    // Runs are written once; a small cache keeps the latest few.
    if (byRun.size > 8) byRun.delete(byRun.keys().next().value!);
    byRun.set(statsRunId, {
      seqLen: r.seq_len,
      ids: new Int32Array(r.ids.buffer.slice(r.ids.byteOffset, r.ids.byteOffset + r.ids.byteLength)),
    });
  }
  return byRun.get(statsRunId);
}

/** A latent's contexts with their windows' token ids: top contexts by rank, then quantile samples. */
export function latentContexts(db: Db, statsRunId: string, hook: string, latent: number): StoredContext[] {
  const r = cachedStatement(
    db,
    'SELECT data FROM latent_contexts WHERE run_id = ? AND hook = ? AND latent = ?',
  ).get(statsRunId, hook, latent) as { data: Buffer } | undefined;
  if (!r) return [];
  const w = windowsOf(db, statsRunId);
  return decodeContexts(r.data).map((c) => ({
    ...c,
    ids: w ? Array.from(w.ids.subarray(c.seq * w.seqLen + c.start, c.seq * w.seqLen + c.start + c.len)) : [],
    acts: Array.from(c.acts),
  }));
}

/** Direct logit effects of a latent (token text by the run's tokenizer is added by the caller). */
export function latentLogits(
  db: Db,
  statsRunId: string,
  hook: string,
  latent: number,
): { top: { id: number; value: number }[]; bottom: { id: number; value: number }[] } {
  const r = cachedStatement(
    db,
    'SELECT top, bottom FROM latent_logits WHERE run_id = ? AND hook = ? AND latent = ?',
  ).get(statsRunId, hook, latent) as { top: Buffer; bottom: Buffer } | undefined;
  return r ? { top: pairsOf(r.top), bottom: pairsOf(r.bottom) } : { top: [], bottom: [] };
}

export function jacobianPairs(
  db: Db,
  statsRunId: string,
): { pair: string; up: string; down: string; tokens: number }[] {
  return cachedStatement(
    db,
    'SELECT pair, up, down, tokens FROM latent_jacobian_pairs WHERE run_id = ? ORDER BY pair',
  ).all(statsRunId) as { pair: string; up: string; down: string; tokens: number }[];
}

/** A latent's strongest stored Jacobian partners: direction 'down' = row i (upstream latent), 'up' = column j. */
export function jacobianPartners(
  db: Db,
  statsRunId: string,
  pair: string,
  latent: number,
  direction: 'up' | 'down',
  limit: number,
): { latent: number; meanAbs: number; mean: number; rank: number }[] {
  const [own, other] = direction === 'down' ? ['i', 'j'] : ['j', 'i'];
  return cachedStatement(
    db,
    `SELECT ${other} AS latent, mean_abs AS meanAbs, mean, rank FROM latent_jacobian
     WHERE run_id = ? AND pair = ? AND ${own} = ? ORDER BY rank LIMIT ?`,
  ).all(statsRunId, pair, latent, limit) as { latent: number; meanAbs: number; mean: number; rank: number }[];
}

export function jacobianTop(
  db: Db,
  statsRunId: string,
  pair: string,
  n: number,
): { i: number; j: number; meanAbs: number; mean: number; rank: number }[] {
  return cachedStatement(
    db,
    `SELECT i, j, mean_abs AS meanAbs, mean, rank FROM latent_jacobian WHERE run_id = ? AND pair = ?
     ORDER BY rank LIMIT ?`,
  ).all(statsRunId, pair, n) as { i: number; j: number; meanAbs: number; mean: number; rank: number }[];
}

// ---------------------------------------------------------------------------------------------------------
// Labels (per SAE run)
// ---------------------------------------------------------------------------------------------------------

export interface LabelRow {
  text: string;
  note: string;
  updatedAt: string;
}

/**
 * Sets a latent's label text (table `labels`) and, when given, its note (`latent_notes`); an empty text or note
 * removes that part. Returns the label, or null when neither is left.
 */
export function setLatentLabel(
  db: Db,
  saeRunId: string,
  hook: string,
  latent: number,
  text: string,
  note: string | undefined,
  now: Date = new Date(),
): LabelRow | null {
  const at = now.toISOString();
  db.transaction(() => {
    if (text.trim() === '')
      cachedStatement(db, 'DELETE FROM labels WHERE run_id = ? AND hook = ? AND latent = ?').run(
        saeRunId,
        hook,
        latent,
      );
    else
      cachedStatement(
        db,
        `INSERT INTO labels (run_id, hook, latent, text, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (run_id, hook, latent) DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at`,
      ).run(saeRunId, hook, latent, text, at);
    if (note === undefined) return;
    if (note.trim() === '')
      cachedStatement(db, 'DELETE FROM latent_notes WHERE run_id = ? AND hook = ? AND latent = ?').run(
        saeRunId,
        hook,
        latent,
      );
    else
      cachedStatement(
        db,
        `INSERT INTO latent_notes (run_id, hook, latent, note, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (run_id, hook, latent) DO UPDATE SET note = excluded.note, updated_at = excluded.updated_at`,
      ).run(saeRunId, hook, latent, note, at);
  }).immediate();
  return getLatentLabel(db, saeRunId, hook, latent);
}

export function getLatentLabel(db: Db, saeRunId: string, hook: string, latent: number): LabelRow | null {
  const l = cachedStatement(
    db,
    'SELECT text, updated_at FROM labels WHERE run_id = ? AND hook = ? AND latent = ?',
  ).get(saeRunId, hook, latent) as { text: string; updated_at: string } | undefined;
  const n = cachedStatement(
    db,
    'SELECT note, updated_at FROM latent_notes WHERE run_id = ? AND hook = ? AND latent = ?',
  ).get(saeRunId, hook, latent) as { note: string; updated_at: string } | undefined;
  if (!l && !n) return null;
  const updatedAt = [l?.updated_at, n?.updated_at]
    .filter((x): x is string => !!x)
    .sort()
    .pop()!;
  return { text: l?.text ?? '', note: n?.note ?? '', updatedAt };
}

/** Label texts of some latents of one hook. */
export function labelsOf(db: Db, saeRunId: string, hook: string, ids: number[]): Map<number, string> {
  const rows = cachedStatement(
    db,
    `SELECT latent, text FROM labels WHERE run_id = ? AND hook = ? AND latent IN (SELECT value FROM json_each(?))`,
  ).all(saeRunId, hook, JSON.stringify(ids)) as { latent: number; text: string }[];
  return new Map(rows.map((r) => [r.latent, r.text]));
}

// ---------------------------------------------------------------------------------------------------------
// Edges per latent and top-N edges (table `edges` of a SCALAR run, see scalar.ts)
// ---------------------------------------------------------------------------------------------------------

/** Stored edges of a pair (ranks 0 … n − 1). */
export function storedEdgeCount(db: Db, scalarRunId: string, pair: string): number {
  const r = cachedStatement(db, 'SELECT MAX(rank) AS m FROM edges WHERE run_id = ? AND pair = ?').get(
    scalarRunId,
    pair,
  ) as { m: number | null };
  return r.m === null ? 0 : r.m + 1;
}

/**
 * One page of a latent's stored edges, strongest first: direction 'up' = its upstream partners (the latent is
 * downstream, j), 'down' = its downstream partners (the latent is upstream, i).
 */
export function latentEdges(
  db: Db,
  scalarRunId: string,
  pair: string,
  latent: number,
  direction: 'up' | 'down',
  offset: number,
  limit: number,
): { total: number; rows: { partner: number; score: number; rank: number }[] } {
  const [own, other] = direction === 'up' ? ['j', 'i'] : ['i', 'j'];
  const total = (
    cachedStatement(db, `SELECT COUNT(*) AS n FROM edges WHERE run_id = ? AND pair = ? AND ${own} = ?`).get(
      scalarRunId,
      pair,
      latent,
    ) as { n: number }
  ).n;
  const rows = cachedStatement(
    db,
    `SELECT ${other} AS partner, score, rank FROM edges WHERE run_id = ? AND pair = ? AND ${own} = ?
     ORDER BY rank LIMIT ? OFFSET ?`,
  ).all(scalarRunId, pair, latent, limit, offset) as { partner: number; score: number; rank: number }[];
  return { total, rows };
}

/** Edges of ranks [offset, offset + n) as columns. */
export function edgeRange(
  db: Db,
  scalarRunId: string,
  pair: string,
  offset: number,
  n: number,
): { i: number[]; j: number[]; score: number[] } {
  const rows = cachedStatement(
    db,
    'SELECT i, j, score FROM edges WHERE run_id = ? AND pair = ? AND rank >= ? AND rank < ? ORDER BY rank',
  )
    .raw(true)
    .all(scalarRunId, pair, offset, offset + n) as [number, number, number][];
  const out = {
    i: new Array<number>(rows.length),
    j: new Array<number>(rows.length),
    score: new Array<number>(rows.length),
  };
  rows.forEach((r, x) => {
    out.i[x] = r[0];
    out.j[x] = r[1];
    out.score[x] = r[2];
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Matches between two SAE runs at a hook
// ---------------------------------------------------------------------------------------------------------

export interface MatchSetRow {
  runA: string;
  runB: string;
  hook: string;
  method: string;
  widthA: number;
  widthB: number;
  matched: number;
  meanCos: number;
  createdAt: string;
}

export function recordMatches(
  db: Db,
  set: Omit<MatchSetRow, 'createdAt'>,
  rows: { a: ArrayLike<number>; b: ArrayLike<number>; cos: ArrayLike<number> },
  now: Date = new Date(),
): void {
  db.transaction(() => {
    cachedStatement(db, 'DELETE FROM latent_matches WHERE run_id = ? AND other_run_id = ? AND hook = ?').run(
      set.runA,
      set.runB,
      set.hook,
    );
    cachedStatement(
      db,
      `INSERT OR REPLACE INTO latent_match_sets (run_id, other_run_id, hook, method, width_a, width_b, matched,
         mean_cos, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      set.runA,
      set.runB,
      set.hook,
      set.method,
      set.widthA,
      set.widthB,
      set.matched,
      set.meanCos,
      now.toISOString(),
    );
    const ins = cachedStatement(
      db,
      'INSERT INTO latent_matches (run_id, other_run_id, hook, latent, other_latent, cos) VALUES (?, ?, ?, ?, ?, ?)',
    );
    for (let r = 0; r < rows.a.length; r++)
      ins.run(set.runA, set.runB, set.hook, rows.a[r], rows.b[r], rows.cos[r]);
  }).immediate();
}

/** The stored matching of (A, B) at a hook in either orientation, seen from A; `swapped` when stored as (B, A). */
export function matchSet(
  db: Db,
  runA: string,
  runB: string,
  hook: string,
): (MatchSetRow & { swapped: boolean }) | undefined {
  const get = (a: string, b: string) =>
    cachedStatement(
      db,
      'SELECT * FROM latent_match_sets WHERE run_id = ? AND other_run_id = ? AND hook = ?',
    ).get(a, b, hook) as
      | {
          method: string;
          width_a: number;
          width_b: number;
          matched: number;
          mean_cos: number;
          created_at: string;
        }
      | undefined;
  const direct = get(runA, runB);
  const r = direct ?? get(runB, runA);
  if (!r) return undefined;
  const swapped = !direct;
  return {
    runA,
    runB,
    hook,
    method: r.method,
    widthA: swapped ? r.width_b : r.width_a,
    widthB: swapped ? r.width_a : r.width_b,
    matched: r.matched,
    meanCos: r.mean_cos,
    createdAt: r.created_at,
    swapped,
  };
}

/** A page of the matching of A with B (as stored in either orientation), sorted by A's latent or by cosine. */
export function listMatches(
  db: Db,
  runA: string,
  runB: string,
  hook: string,
  q: { sort?: 'a' | 'cos'; desc?: boolean; latent?: number; offset?: number; limit?: number } = {},
): {
  total: number;
  rows: { a: number; b: number; cos: number; labelA: string | null; labelB: string | null }[];
} {
  const set = matchSet(db, runA, runB, hook);
  if (!set) return { total: 0, rows: [] };
  const [stored, other] = set.swapped ? [runB, runA] : [runA, runB];
  const [aCol, bCol] = set.swapped ? ['m.other_latent', 'm.latent'] : ['m.latent', 'm.other_latent'];
  const where = ['m.run_id = @stored', 'm.other_run_id = @other', 'm.hook = @hook'];
  const params: Record<string, unknown> = { stored, other, hook, runA, runB };
  if (q.latent !== undefined) {
    where.push(`${aCol} = @latent`);
    params.latent = q.latent;
  }
  const from = `FROM latent_matches m
    LEFT JOIN labels la ON la.run_id = @runA AND la.hook = m.hook AND la.latent = ${aCol}
    LEFT JOIN labels lb ON lb.run_id = @runB AND lb.hook = m.hook AND lb.latent = ${bCol}
    WHERE ${where.join(' AND ')}`;
  const total = (db.prepare(`SELECT COUNT(*) AS n ${from}`).get(params) as { n: number }).n;
  const dir = q.desc ? 'DESC' : 'ASC';
  const order = q.sort === 'cos' ? `m.cos ${dir}, ${aCol}` : `${aCol} ${dir}`;
  const rows = db
    .prepare(
      `SELECT ${aCol} AS a, ${bCol} AS b, m.cos AS cos, la.text AS labelA, lb.text AS labelB ${from}
       ORDER BY ${order} LIMIT @limit OFFSET @offset`,
    )
    .all({ ...params, limit: q.limit ?? 50, offset: q.offset ?? 0 }) as {
    a: number;
    b: number;
    cos: number;
    labelA: string | null;
    labelB: string | null;
  }[];
  return { total, rows };
}

/** Every stored match of one latent of `saeRunId` at `hook`, in any other run (with the other side's label). */
export function matchesOfLatent(
  db: Db,
  saeRunId: string,
  hook: string,
  latent: number,
): { run: string; latent: number; cos: number; label: string | null }[] {
  return cachedStatement(
    db,
    `SELECT m.other_run_id AS run, m.other_latent AS latent, m.cos AS cos, l.text AS label FROM latent_matches m
       LEFT JOIN labels l ON l.run_id = m.other_run_id AND l.hook = m.hook AND l.latent = m.other_latent
       WHERE m.run_id = ? AND m.hook = ? AND m.latent = ?
     UNION ALL
     SELECT m.run_id AS run, m.latent AS latent, m.cos AS cos, l.text AS label FROM latent_matches m
       LEFT JOIN labels l ON l.run_id = m.run_id AND l.hook = m.hook AND l.latent = m.latent
       WHERE m.other_run_id = ? AND m.hook = ? AND m.other_latent = ?
     ORDER BY cos DESC`,
  ).all(saeRunId, hook, latent, saeRunId, hook, latent) as {
    run: string;
    latent: number;
    cos: number;
    label: string | null;
  }[];
}

/** Completed SCALAR runs that measured `saeRunId` (wherever they sit in the run tree), newest first. */
export function scalarRunsOfSae(db: Db, saeRunId: string): { id: string; name: string; summary: unknown }[] {
  const rows = cachedStatement(
    db,
    `SELECT id, name, summary_json FROM runs WHERE kind = 'scalar' AND status = 'completed'
       AND json_extract(config_json, '$.config.sae') = ? ORDER BY created_at DESC, id DESC`,
  ).all(saeRunId) as { id: string; name: string; summary_json: string | null }[];
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    summary: r.summary_json ? JSON.parse(r.summary_json) : null,
  }));
}
