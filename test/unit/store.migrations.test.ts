import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  LATEST_SCHEMA_VERSION,
  MIGRATIONS,
  Store,
  migrate,
  openDatabase,
  schemaVersion,
  type Db,
  type Migration,
} from '../../src-main/store/index.ts';
import { makeTempDir, removeDir } from './store.helpers.ts';

/**
 * Rows written by a database at each schema version, and how to check they survived every later migration.
 * Raw SQL on purpose: the repositories follow the latest schema, the fixtures must follow the old one.
 * Adding a migration means adding its fixture here (the first test enforces it).
 */
const FIXTURES: Record<number, { seed(db: Db): void; check(db: Db): void }> = {
  1: {
    seed(db) {
      const at = '2026-01-02T03:04:05.000Z';
      db.prepare(
        `INSERT INTO runs (id, kind, name, config_json, status, seed, backend, created_at, updated_at, wall_seconds,
                           summary_json, app_version)
         VALUES ('lm-20260102-030405-aaaa', 'lm', 'toy lm', '{"d_model":64}', 'completed', 7, 'wasm', ?, ?, 12.5,
                 '{"val_loss":1.25}', '0.1.0')`,
      ).run(at, at);
      db.prepare(
        `INSERT INTO runs (id, kind, name, parent_id, status, created_at, updated_at)
         VALUES ('sae-20260102-030500-bbbb', 'sae', 'topk x8', 'lm-20260102-030405-aaaa', 'running', ?, ?)`,
      ).run(at, at);
      const metric = db.prepare(
        'INSERT INTO metrics (run_id, scope, key, step, value) VALUES (?, ?, ?, ?, ?)',
      );
      for (let step = 0; step < 5; step++) {
        metric.run('lm-20260102-030405-aaaa', '', 'loss', step, 3 - step * 0.5);
        metric.run('sae-20260102-030500-bbbb', 'blocks.0.hook_resid_pre', 'l0', step, 10 + step);
      }
      db.prepare(
        `INSERT INTO artifacts (run_id, kind, name, path, sha256, bytes, created_at)
         VALUES ('lm-20260102-030405-aaaa', 'best', 'model.safetensors',
                 'artifacts/lm-20260102-030405-aaaa/model.safetensors', 'ab', 3, ?)`,
      ).run(at);
    },
    check(db) {
      const lm = db.prepare(`SELECT * FROM runs WHERE id = 'lm-20260102-030405-aaaa'`).get() as Record<
        string,
        unknown
      >;
      expect(lm).toMatchObject({
        kind: 'lm',
        name: 'toy lm',
        config_json: '{"d_model":64}',
        status: 'completed',
        seed: 7,
        backend: 'wasm',
        wall_seconds: 12.5,
        summary_json: '{"val_loss":1.25}',
        app_version: '0.1.0',
      });
      const sae = db.prepare(`SELECT parent_id FROM runs WHERE id = 'sae-20260102-030500-bbbb'`).get();
      expect(sae).toEqual({ parent_id: 'lm-20260102-030405-aaaa' });
      const loss = db
        .prepare(`SELECT step, value FROM metrics WHERE run_id = ? AND key = 'loss' ORDER BY step`)
        .all('lm-20260102-030405-aaaa');
      expect(loss).toEqual([0, 1, 2, 3, 4].map((step) => ({ step, value: 3 - step * 0.5 })));
      expect(
        db.prepare(`SELECT COUNT(*) AS n FROM metrics WHERE scope = 'blocks.0.hook_resid_pre'`).get(),
      ).toEqual({
        n: 5,
      });
      expect(db.prepare('SELECT name, sha256, bytes FROM artifacts').all()).toEqual([
        { name: 'model.safetensors', sha256: 'ab', bytes: 3 },
      ]);
    },
  },
  2: {
    seed(db) {
      const run = 'sae-20260102-030500-bbbb';
      db.prepare(`INSERT INTO scalar_curves VALUES (?, 'tblock:0', 'model', 16, 0.5, 0.4, 0.6)`).run(run);
      db.prepare(`INSERT INTO edges VALUES (?, 'tblock:0', 0, 3, 5, 0.9)`).run(run);
      db.prepare(`INSERT INTO latent_stats VALUES (?, 'blocks.0.hook_resid_pre', 3, 'freq', 0.01)`).run(run);
      db.prepare(
        `INSERT INTO labels VALUES (?, 'blocks.0.hook_resid_pre', 3, 'digits', '2026-01-02T00:00:00Z')`,
      ).run(run);
      db.prepare(
        `INSERT INTO comparisons (run_id, baseline_run_id, setup, pair, metric, value)
         VALUES (?, 'lm-20260102-030405-aaaa', 'tblock', 'tblock:0', 'scalar_auc_rel_reduction', 0.53)`,
      ).run(run);
    },
    check(db) {
      expect(db.prepare('SELECT n, mean, lo, hi FROM scalar_curves').all()).toEqual([
        { n: 16, mean: 0.5, lo: 0.4, hi: 0.6 },
      ]);
      expect(db.prepare('SELECT rank, i, j, score FROM edges').all()).toEqual([
        { rank: 0, i: 3, j: 5, score: 0.9 },
      ]);
      expect(db.prepare('SELECT value FROM latent_stats').all()).toEqual([{ value: 0.01 }]);
      expect(db.prepare('SELECT text FROM labels').all()).toEqual([{ text: 'digits' }]);
      expect(db.prepare('SELECT value FROM comparisons').all()).toEqual([{ value: 0.53 }]);
    },
  },
  3: {
    seed(db) {
      const run = 'lm-20260102-030405-aaaa';
      db.prepare(
        `UPDATE runs SET note = 'first try', arch = NULL, headline_json = '{"val_loss":1.25}' WHERE id = ?`,
      ).run(run);
      db.prepare(`INSERT INTO run_tags VALUES (?, 'baseline')`).run(run);
      db.prepare(
        `INSERT INTO run_status_history VALUES (?, '2026-01-03T00:00:00.000Z', 'completed', NULL)`,
      ).run(run);
      db.prepare(`INSERT INTO settings VALUES ('concurrency', '2')`).run();
    },
    check(db) {
      expect(
        db.prepare(`SELECT note, headline_json FROM runs WHERE id = 'lm-20260102-030405-aaaa'`).get(),
      ).toEqual({
        note: 'first try',
        headline_json: '{"val_loss":1.25}',
      });
      expect(db.prepare('SELECT tag FROM run_tags').all()).toEqual([{ tag: 'baseline' }]);
      expect(
        db
          .prepare(`SELECT COUNT(*) AS n FROM run_status_history WHERE at = '2026-01-03T00:00:00.000Z'`)
          .get(),
      ).toEqual({
        n: 1,
      });
      expect(db.prepare(`SELECT value_json FROM settings WHERE key = 'concurrency'`).get()).toEqual({
        value_json: '2',
      });
    },
  },
  4: {
    seed(db) {
      const sae = 'sae-20260102-030500-bbbb';
      const at = '2026-01-04T00:00:00.000Z';
      db.prepare(
        `INSERT INTO runs (id, kind, parent_id, status, created_at, updated_at)
         VALUES ('latents-20260104-000000-cccc', 'latents', ?, 'completed', ?, ?)`,
      ).run(sae, at, at);
      const run = 'latents-20260104-000000-cccc';
      const hook = 'blocks.0.hook_resid_pre';
      db.prepare(
        `INSERT INTO latent_sets VALUES (?, ?, 512, NULL, 0, 10, 4096, 7, 2, 'ascii', 1, 'direct', -3, 3, 5, '{}')`,
      ).run(run, hook);
      db.prepare(
        `INSERT INTO latent_summary VALUES (?, ?, 3, 40, 0.009765625, 1.5, 4.25, 0, 0, NULL, '["e"]')`,
      ).run(run, hook);
      db.prepare(`INSERT INTO latent_histograms VALUES (?, ?, 3, 16, '[30,10]')`).run(run, hook);
      db.prepare(`INSERT INTO latent_windows VALUES (?, 2, 3, 'ascii', ?)`).run(
        run,
        Buffer.from(Int32Array.of(104, 105, 33, 65, 66, 67).buffer),
      );
      db.prepare(`INSERT INTO latent_contexts VALUES (?, ?, 3, 1, ?)`).run(
        run,
        hook,
        Buffer.from([1, 2, 3, 4]),
      );
      db.prepare(`INSERT INTO latent_logits VALUES (?, ?, 3, ?, ?)`).run(
        run,
        hook,
        Buffer.from(Int32Array.of(122, 0).buffer),
        Buffer.alloc(0),
      );
      db.prepare(
        `INSERT INTO latent_jacobian_pairs VALUES (?, 'fflayer:0', 'blocks.0.ln2.hook_normalized', 'blocks.0.hook_mlp_out', 99)`,
      ).run(run);
      db.prepare(`INSERT INTO latent_jacobian VALUES (?, 'fflayer:0', 1, 2, 0.5, -0.25, 0)`).run(run);
      db.prepare(
        `INSERT INTO latent_match_sets VALUES (?, 'lm-20260102-030405-aaaa', ?, 'hungarian', 512, 512, 512, 0.8, ?)`,
      ).run(sae, hook, at);
      db.prepare(`INSERT INTO latent_matches VALUES (?, 'lm-20260102-030405-aaaa', ?, 3, 17, 0.875)`).run(
        sae,
        hook,
      );
      db.prepare(`INSERT INTO latent_notes VALUES (?, ?, 3, 'fires on digits in dates', ?)`).run(
        sae,
        hook,
        at,
      );
    },
    check(db) {
      expect(
        db.prepare('SELECT width, dead, dense, tokenizer, logit_effects FROM latent_sets').all(),
      ).toEqual([{ width: 512, dead: 7, dense: 2, tokenizer: 'ascii', logit_effects: 1 }]);
      expect(
        db.prepare('SELECT latent, count, freq, max_act, top_tokens_json FROM latent_summary').all(),
      ).toEqual([{ latent: 3, count: 40, freq: 0.009765625, max_act: 4.25, top_tokens_json: '["e"]' }]);
      expect(db.prepare('SELECT first_bin, counts_json FROM latent_histograms').all()).toEqual([
        { first_bin: 16, counts_json: '[30,10]' },
      ]);
      expect(
        db.prepare('SELECT seqs, seq_len, tokenizer, length(ids) AS bytes FROM latent_windows').all(),
      ).toEqual([{ seqs: 2, seq_len: 3, tokenizer: 'ascii', bytes: 24 }]);
      expect(db.prepare('SELECT count, hex(data) AS data FROM latent_contexts').all()).toEqual([
        { count: 1, data: '01020304' },
      ]);
      expect(
        db.prepare('SELECT length(top) AS top, length(bottom) AS bottom FROM latent_logits').all(),
      ).toEqual([{ top: 8, bottom: 0 }]);
      expect(db.prepare('SELECT tokens FROM latent_jacobian_pairs').all()).toEqual([{ tokens: 99 }]);
      expect(db.prepare('SELECT i, j, mean_abs, mean, rank FROM latent_jacobian').all()).toEqual([
        { i: 1, j: 2, mean_abs: 0.5, mean: -0.25, rank: 0 },
      ]);
      expect(db.prepare('SELECT method, matched, mean_cos FROM latent_match_sets').all()).toEqual([
        { method: 'hungarian', matched: 512, mean_cos: 0.8 },
      ]);
      expect(db.prepare('SELECT latent, other_latent, cos FROM latent_matches').all()).toEqual([
        { latent: 3, other_latent: 17, cos: 0.875 },
      ]);
      expect(db.prepare('SELECT latent, note FROM latent_notes').all()).toEqual([
        { latent: 3, note: 'fires on digits in dates' },
      ]);
    },
  },
  5: {
    seed(db) {
      db.prepare(
        `INSERT INTO run_inputs VALUES ('lm-20260102-030405-aaaa', '/data/sonnets.txt', 'corpus', ?, 1234,
           '2026-01-05T00:00:00.000Z', '2 ill-formed UTF-8 sequence(s) were replaced', ?)`,
      ).run('ab'.repeat(32), JSON.stringify([{ sha256: 'cd'.repeat(32), bytes: 1200, at: '2026-01-06' }]));
    },
    check(db) {
      expect(
        db.prepare('SELECT run_id, path, role, bytes, note, replaced_json FROM run_inputs').all(),
      ).toEqual([
        {
          run_id: 'lm-20260102-030405-aaaa',
          path: '/data/sonnets.txt',
          role: 'corpus',
          bytes: 1234,
          note: '2 ill-formed UTF-8 sequence(s) were replaced',
          replaced_json: JSON.stringify([{ sha256: 'cd'.repeat(32), bytes: 1200, at: '2026-01-06' }]),
        },
      ]);
    },
  },
  6: {
    seed(db) {
      db.prepare(`UPDATE runs SET files_left_out_json = ? WHERE id = 'lm-20260102-030405-aaaa'`).run(
        JSON.stringify([
          { path: 'best/model.safetensors', bytes: 870112, sha256: 'ef'.repeat(32), role: 'weights' },
        ]),
      );
    },
    check(db) {
      // Runs of earlier versions have every file; the one marked keeps its list.
      expect(
        db.prepare('SELECT id, files_left_out_json FROM runs WHERE files_left_out_json IS NOT NULL').all(),
      ).toEqual([
        {
          id: 'lm-20260102-030405-aaaa',
          files_left_out_json: JSON.stringify([
            { path: 'best/model.safetensors', bytes: 870112, sha256: 'ef'.repeat(32), role: 'weights' },
          ]),
        },
      ]);
    },
  },
};

function schemaOf(db: Db): unknown[] {
  return db
    .prepare(`SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name`)
    .all();
}

describe('migrations', () => {
  let tmp: string;
  let file: string;
  beforeEach(() => {
    tmp = makeTempDir();
    file = path.join(tmp, 'scalar.db');
  });
  afterEach(() => removeDir(tmp));

  it('has a contiguous version list with a data fixture for every version', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(Object.keys(FIXTURES).map(Number)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(LATEST_SCHEMA_VERSION).toBe(MIGRATIONS.length);
  });

  it('brings an empty database to the latest version, with every table in place', () => {
    const db = openDatabase(file);
    try {
      expect(schemaVersion(db)).toBe(LATEST_SCHEMA_VERSION);
      const tables = (
        db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]
      )
        .map((t) => t.name)
        .sort();
      expect(tables).toEqual(
        [
          'artifacts',
          'comparisons',
          'edges',
          'labels',
          'latent_contexts',
          'latent_histograms',
          'latent_jacobian',
          'latent_jacobian_pairs',
          'latent_logits',
          'latent_match_sets',
          'latent_matches',
          'latent_notes',
          'latent_sets',
          'latent_stats',
          'latent_summary',
          'latent_windows',
          'metrics',
          'run_inputs',
          'run_status_history',
          'run_tags',
          'runs',
          'scalar_curves',
          'settings',
        ].sort(),
      );
      for (let v = 1; v <= LATEST_SCHEMA_VERSION; v++) FIXTURES[v].seed(db);
      for (let v = 1; v <= LATEST_SCHEMA_VERSION; v++) FIXTURES[v].check(db);
    } finally {
      db.close();
    }
  });

  it('fills the run-table columns of version-2 runs from their config and summary (hand-written values)', () => {
    const db = openDatabase(file, { migrations: MIGRATIONS.slice(0, 2) });
    try {
      const at = '2026-01-02T03:04:05.000Z';
      const insert = db.prepare(
        `INSERT INTO runs (id, kind, config_json, summary_json, status, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      );
      insert.run('lm-20260102-030405-aaaa', 'lm', '{}', '{"valLoss":1.5}', 'completed', at, at);
      insert.run(
        'sae-20260102-030405-bbbb',
        'sae',
        '{"kind":"train-sae","config":{"arch":"staircase","setup":"tblock"}}',
        '{"compoundCeLossIncrease":0.25,"saes":[{"explained_variance":0.5,"l0":8},{"explained_variance":0.7,"l0":12}]}',
        'completed',
        at,
        at,
      );
      insert.run(
        'scalar-20260102-030405-cccc',
        'scalar',
        '{"kind":"scalar","config":{"sae":"sae-20260102-030405-bbbb"}}',
        '{"eval_config":{"arch":"staircase","setup":"tblock"},"eval_result_metrics":{"pairs":[{"scalar_auc_abs":2,"scalar_auc_rel":0.25},{"scalar_auc_abs":4,"scalar_auc_rel":0.75}]}}',
        'completed',
        at,
        at,
      );
      insert.run('lm-20260102-030405-dddd', 'lm', '{}', null, 'queued', at, at);
    } finally {
      db.close();
    }
    const migrated = openDatabase(file);
    try {
      const rows = migrated
        .prepare('SELECT id, arch, setup, headline_json, queue_pos FROM runs ORDER BY id')
        .all() as {
        id: string;
        arch: string | null;
        setup: string | null;
        headline_json: string;
        queue_pos: number | null;
      }[];
      const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
      expect(JSON.parse(byId['lm-20260102-030405-aaaa'].headline_json)).toEqual({ val_loss: 1.5 });
      expect(byId['sae-20260102-030405-bbbb']).toMatchObject({ arch: 'staircase', setup: 'tblock' });
      // Means over the two SAEs / two pairs, worked by hand.
      expect(JSON.parse(byId['sae-20260102-030405-bbbb'].headline_json)).toEqual({
        explained_variance: 0.6,
        l0: 10,
        ce_loss_increase: 0.25,
      });
      expect(byId['scalar-20260102-030405-cccc']).toMatchObject({ arch: 'staircase', setup: 'tblock' });
      expect(JSON.parse(byId['scalar-20260102-030405-cccc'].headline_json)).toEqual({
        auc_abs: 3,
        auc_rel: 0.5,
      });
      expect(byId['lm-20260102-030405-dddd'].queue_pos).toBe(Date.parse('2026-01-02T03:04:05.000Z'));
      expect(byId['lm-20260102-030405-aaaa'].queue_pos).toBeNull();
    } finally {
      migrated.close();
    }
  });

  it('applies nothing when reopened at the latest version', () => {
    openDatabase(file).close();
    const db = openDatabase(file);
    try {
      expect(migrate(db)).toEqual({ from: LATEST_SCHEMA_VERSION, to: LATEST_SCHEMA_VERSION, applied: [] });
    } finally {
      db.close();
    }
  });

  const fresh = (() => {
    const dir = makeTempDir();
    try {
      const db = openDatabase(path.join(dir, 'fresh.db'));
      const schema = schemaOf(db);
      db.close();
      return schema;
    } finally {
      removeDir(dir);
    }
  })();

  for (let from = 0; from < LATEST_SCHEMA_VERSION; from++) {
    it(`migrates a version-${from} database to version ${LATEST_SCHEMA_VERSION} with its data intact`, () => {
      const old = openDatabase(file, { migrations: MIGRATIONS.slice(0, from) });
      expect(schemaVersion(old)).toBe(from);
      for (let v = 1; v <= from; v++) FIXTURES[v].seed(old);
      old.close();

      const db = openDatabase(file);
      try {
        expect(schemaVersion(db)).toBe(LATEST_SCHEMA_VERSION);
        for (let v = 1; v <= from; v++) FIXTURES[v].check(db);
        // A migrated database is indistinguishable from a fresh one.
        expect(schemaOf(db)).toEqual(fresh);
        // Rows of the later versions fit in too.
        for (let v = from + 1; v <= LATEST_SCHEMA_VERSION; v++) FIXTURES[v].seed(db);
        for (let v = 1; v <= LATEST_SCHEMA_VERSION; v++) FIXTURES[v].check(db);
      } finally {
        db.close();
      }
    });
  }

  it('serves migrated rows through the repositories', () => {
    const old = openDatabase(file, { migrations: MIGRATIONS.slice(0, 1) });
    FIXTURES[1].seed(old);
    old.close();
    const store = Store.open(tmp);
    try {
      expect(store.listRuns().map((r) => r.id)).toEqual([
        'sae-20260102-030500-bbbb',
        'lm-20260102-030405-aaaa',
      ]);
      expect(store.getRun('lm-20260102-030405-aaaa')?.config).toEqual({ d_model: 64 });
      expect(store.getMetricSeries('sae-20260102-030500-bbbb', 'l0', 'blocks.0.hook_resid_pre')).toHaveLength(
        5,
      );
    } finally {
      store.close();
    }
  });

  it('refuses a database written by a newer release, without touching it', () => {
    const raw = new Database(file);
    raw.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => openDatabase(file)).toThrow(
      expect.objectContaining({
        code: 'SCHEMA_TOO_NEW',
        message: expect.stringMatching(
          new RegExp(
            `schema version ${LATEST_SCHEMA_VERSION + 1}.*up to ${LATEST_SCHEMA_VERSION}.*upgrade the app`,
          ),
        ),
      }),
    );
    const after = new Database(file, { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(LATEST_SCHEMA_VERSION + 1);
    expect(after.prepare('SELECT COUNT(*) AS n FROM sqlite_master').get()).toEqual({ n: 0 });
    after.close();
  });

  it('rolls a failing migration back completely, version included', () => {
    const broken: Migration = {
      version: LATEST_SCHEMA_VERSION + 1,
      name: 'broken',
      up(db) {
        db.exec('CREATE TABLE half_done (x INTEGER)');
        throw new Error('boom');
      },
    };
    expect(() => openDatabase(file, { migrations: [...MIGRATIONS, broken] })).toThrow(
      expect.objectContaining({ code: 'MIGRATION_FAILED', message: expect.stringContaining('broken') }),
    );
    const db = openDatabase(file);
    try {
      expect(schemaVersion(db)).toBe(LATEST_SCHEMA_VERSION);
      expect(db.prepare(`SELECT name FROM sqlite_master WHERE name = 'half_done'`).get()).toBeUndefined();
    } finally {
      db.close();
    }
  });

  it('rejects a malformed migration list', () => {
    const gap = [MIGRATIONS[0], { ...MIGRATIONS[1], version: 3 }];
    expect(() => openDatabase(file, { migrations: gap })).toThrow(/malformed/);
  });

  it('can rebuild a parent table with foreign keys switched off, keeping child rows', () => {
    const db = openDatabase(file);
    FIXTURES[1].seed(db);
    db.close();
    // SQLite's 12-step ALTER: with foreign keys on, DROP TABLE runs would cascade-delete every metric.
    const rebuildRuns: Migration = {
      version: LATEST_SCHEMA_VERSION + 1,
      name: 'rebuild runs with a notes column',
      disableForeignKeys: true,
      up(db) {
        const { sql } = db.prepare(`SELECT sql FROM sqlite_master WHERE name = 'runs'`).get() as {
          sql: string;
        };
        const indexes = db
          .prepare(
            `SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'runs' AND sql IS NOT NULL`,
          )
          .all() as { sql: string }[];
        db.exec(sql.replace('CREATE TABLE runs (', 'CREATE TABLE runs_new (notes TEXT, '));
        db.exec(
          'INSERT INTO runs_new SELECT NULL, * FROM runs; DROP TABLE runs; ALTER TABLE runs_new RENAME TO runs;',
        );
        for (const index of indexes) db.exec(index.sql);
      },
    };
    const rebuilt = openDatabase(file, { migrations: [...MIGRATIONS, rebuildRuns] });
    try {
      expect(schemaVersion(rebuilt)).toBe(LATEST_SCHEMA_VERSION + 1);
      FIXTURES[1].check(rebuilt);
      expect(rebuilt.pragma('foreign_keys', { simple: true })).toBe(1);
    } finally {
      rebuilt.close();
    }
  });

  it('rolls back a foreign-keys-off migration that leaves dangling references', () => {
    const dangling: Migration = {
      version: LATEST_SCHEMA_VERSION + 1,
      name: 'dangling',
      disableForeignKeys: true,
      up(db) {
        db.exec(`INSERT INTO metrics (run_id, key, step, value) VALUES ('no-such-run', 'loss', 0, 1)`);
      },
    };
    expect(() => openDatabase(file, { migrations: [...MIGRATIONS, dangling] })).toThrow(
      /foreign key violation/,
    );
    const db = openDatabase(file);
    try {
      expect(db.prepare('SELECT COUNT(*) AS n FROM metrics').get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  });
});

describe('connection settings', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = makeTempDir();
  });
  afterEach(() => removeDir(tmp));

  it('uses WAL, foreign keys, NORMAL sync and a busy timeout', () => {
    const store = Store.open(tmp);
    try {
      const { db } = store;
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
      expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
      expect(db.pragma('busy_timeout', { simple: true })).toBe(30_000); // long enough for another process's write transaction under load (CLI + app share a store)
      store.createRun({ kind: 'lm' });
      expect(fs.existsSync(path.join(tmp, 'scalar.db-wal'))).toBe(true);
    } finally {
      store.close();
    }
  });

  it('lets a second connection read while the first holds a write transaction', () => {
    const a = Store.open(tmp);
    const b = Store.open(tmp);
    try {
      const run = a.createRun({ kind: 'lm', name: 'visible' });
      a.db.exec('BEGIN IMMEDIATE');
      a.db.prepare(`UPDATE runs SET name = 'pending' WHERE id = ?`).run(run.id);
      expect(b.getRun(run.id)?.name).toBe('visible'); // WAL: readers see the last commit, no SQLITE_BUSY
      a.db.exec('COMMIT');
      expect(b.getRun(run.id)?.name).toBe('pending');
    } finally {
      a.close();
      b.close();
    }
  });

  it('reports a file that is not a database clearly', () => {
    const file = path.join(tmp, 'scalar.db');
    fs.writeFileSync(
      file,
      'this is not sqlite, just a text file that is long enough to have a header'.repeat(10),
    );
    expect(() => openDatabase(file)).toThrow(
      expect.objectContaining({ code: 'DB_OPEN_FAILED', message: expect.stringContaining(file) }),
    );
  });
});
