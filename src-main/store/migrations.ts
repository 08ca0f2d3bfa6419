/**
 * The schema, as an ordered list of migrations. Append only: a released migration is never edited, because
 * databases in users' data dirs were built by it. Each migration runs in its own transaction and bumps
 * `PRAGMA user_version` to its `version` (see db.ts).
 *
 * Conventions: timestamps are ISO-8601 UTC text (`2026-11-22T15:30:12.345Z`, sorts as text); JSON columns end
 * in `_json`; every table hanging off a run cascades on run deletion; status/kind values are validated in code
 * rather than by CHECK constraints, so adding a value later needs no table rebuild.
 */
import { archSetupOf, headlineOf } from '../../src-shared/runs.ts';
import type { Db } from './db.ts';

export interface Migration {
  version: number;
  name: string;
  up(db: Db): void;
  /**
   * Set for migrations that rebuild a table (SQLite's 12-step ALTER): foreign keys are switched off around the
   * transaction and `PRAGMA foreign_key_check` must come back clean before commit.
   */
  disableForeignKeys?: boolean;
}

const runsMetricsArtifacts: Migration = {
  version: 1,
  name: 'runs, metrics, artifacts',
  up(db) {
    db.exec(`
      CREATE TABLE runs (
        id              TEXT PRIMARY KEY,          -- e.g. lm-20261122-153012-ab12: kind, UTC time, random suffix
        kind            TEXT NOT NULL,             -- lm | sae | scalar | pipeline | ...
        name            TEXT NOT NULL DEFAULT '',
        parent_id       TEXT REFERENCES runs(id),  -- e.g. SAE run -> LM run; deletion of a parent is refused
        config_json     TEXT NOT NULL DEFAULT '{}',
        status          TEXT NOT NULL DEFAULT 'queued',
        seed            INTEGER,
        backend         TEXT,                      -- tensorflow | wasm | cpu, as chosen at run time
        created_at      TEXT NOT NULL,
        started_at      TEXT,                      -- first time the run entered 'running'
        finished_at     TEXT,                      -- set on completed | failed | cancelled
        updated_at      TEXT NOT NULL,             -- last write; doubles as the heartbeat of a running job
        running_since   TEXT,                      -- start of the current running segment (resume-aware wall time)
        wall_seconds    REAL,                      -- summed over running segments
        owner_pid       INTEGER,                   -- process that runs it, to tell live runs from orphans
        owner_host      TEXT,
        progress_json   TEXT,                      -- last progress event: step, total, rate, eta
        summary_json    TEXT,                      -- final results
        error           TEXT,
        app_version     TEXT
      );
      CREATE INDEX runs_created_at ON runs(created_at);
      CREATE INDEX runs_kind_created_at ON runs(kind, created_at);
      CREATE INDEX runs_status ON runs(status);
      CREATE INDEX runs_parent_id ON runs(parent_id);

      -- value NULL encodes NaN: SQLite has no NaN and would store NULL anyway; keeping the row keeps the step.
      CREATE TABLE metrics (
        run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        scope   TEXT NOT NULL DEFAULT '',         -- '' for run-level metrics, else e.g. an SAE hook name
        key     TEXT NOT NULL,
        step    INTEGER NOT NULL,
        value   REAL,
        PRIMARY KEY (run_id, scope, key, step)
      ) WITHOUT ROWID;
      CREATE INDEX metrics_run_key ON metrics(run_id, key);

      CREATE TABLE artifacts (
        id          INTEGER PRIMARY KEY,
        run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        kind        TEXT NOT NULL,                -- checkpoint | best | sae | report | ...
        name        TEXT NOT NULL,
        path        TEXT NOT NULL,                -- relative to the data dir, forward slashes
        sha256      TEXT NOT NULL,
        bytes       INTEGER NOT NULL,
        created_at  TEXT NOT NULL,
        meta_json   TEXT,
        UNIQUE (run_id, kind, name)
      );
    `);
  },
};

const scalarTables: Migration = {
  version: 2,
  name: 'scalar curves, edges, latent stats, labels, comparisons',
  up(db) {
    db.exec(`
      CREATE TABLE scalar_curves (
        run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        pair    TEXT NOT NULL,                    -- SAE pair, e.g. 'tblock:0'
        target  TEXT NOT NULL,                    -- KL target: 'model' | 'circuit'
        n       INTEGER NOT NULL,                 -- edge budget N
        mean    REAL,
        lo      REAL,                             -- 95 % bootstrap CI
        hi      REAL,
        PRIMARY KEY (run_id, pair, target, n)
      ) WITHOUT ROWID;

      -- The kept top edges of a pair (upstream latent i, downstream latent j), by rank.
      CREATE TABLE edges (
        run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        pair    TEXT NOT NULL,
        rank    INTEGER NOT NULL,
        i       INTEGER NOT NULL,
        j       INTEGER NOT NULL,
        score   REAL NOT NULL,
        PRIMARY KEY (run_id, pair, rank)
      ) WITHOUT ROWID;
      -- In/out edge lists of one latent in the circuit explorer.
      CREATE INDEX edges_upstream ON edges(run_id, pair, i);
      CREATE INDEX edges_downstream ON edges(run_id, pair, j);

      CREATE TABLE latent_stats (
        run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        hook    TEXT NOT NULL,
        latent  INTEGER NOT NULL,
        key     TEXT NOT NULL,
        value   REAL,
        PRIMARY KEY (run_id, hook, latent, key)
      ) WITHOUT ROWID;

      CREATE TABLE labels (
        run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        hook        TEXT NOT NULL,
        latent      INTEGER NOT NULL,
        text        TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        PRIMARY KEY (run_id, hook, latent)
      ) WITHOUT ROWID;

      CREATE TABLE comparisons (
        id               INTEGER PRIMARY KEY,
        run_id           TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        baseline_run_id  TEXT REFERENCES runs(id) ON DELETE CASCADE,
        setup            TEXT NOT NULL,           -- fflayer | ffblock | tblock
        pair             TEXT NOT NULL,
        metric           TEXT NOT NULL,           -- e.g. scalar_auc_rel_reduction
        value            REAL,
        meta_json        TEXT
      );
      CREATE INDEX comparisons_run ON comparisons(run_id);
      CREATE INDEX comparisons_baseline ON comparisons(baseline_run_id);
    `);
  },
};

const workstationTables: Migration = {
  version: 3,
  name: 'run table columns, tags, notes, status history, queue order, settings',
  up(db) {
    db.exec(`
      ALTER TABLE runs ADD COLUMN note TEXT NOT NULL DEFAULT '';
      ALTER TABLE runs ADD COLUMN arch TEXT;            -- SAE architecture (SAE and SCALAR runs), for filters
      ALTER TABLE runs ADD COLUMN setup TEXT;           -- tblock | fflayer | ffblock
      ALTER TABLE runs ADD COLUMN headline_json TEXT;   -- src-shared/runs.ts headlineOf(kind, summary), sortable
      ALTER TABLE runs ADD COLUMN queue_pos REAL;       -- order among queued runs (smaller starts first)
      CREATE INDEX runs_arch ON runs(arch);
      CREATE INDEX runs_setup ON runs(setup);

      CREATE TABLE run_tags (
        run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        tag     TEXT NOT NULL,
        PRIMARY KEY (run_id, tag)
      ) WITHOUT ROWID;
      CREATE INDEX run_tags_tag ON run_tags(tag);

      CREATE TABLE run_status_history (
        run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        at      TEXT NOT NULL,
        status  TEXT NOT NULL,
        error   TEXT
      );
      CREATE INDEX run_status_history_run ON run_status_history(run_id, at);

      CREATE TABLE settings (
        key         TEXT PRIMARY KEY,
        value_json  TEXT NOT NULL
      );
    `);
    // Existing runs get their filter columns and headline from what they already store.
    const rows = db
      .prepare('SELECT id, kind, config_json, summary_json, status, created_at FROM runs')
      .all() as {
      id: string;
      kind: string;
      config_json: string;
      summary_json: string | null;
      status: string;
      created_at: string;
    }[];
    const update = db.prepare(
      'UPDATE runs SET arch = ?, setup = ?, headline_json = ?, queue_pos = ? WHERE id = ?',
    );
    const history = db.prepare('INSERT INTO run_status_history (run_id, at, status) VALUES (?, ?, ?)');
    for (const r of rows) {
      const config = JSON.parse(r.config_json) as unknown;
      const summary = r.summary_json === null ? null : (JSON.parse(r.summary_json) as unknown);
      let { arch, setup } = archSetupOf(config);
      const evalConfig = (summary as { eval_config?: { arch?: string; setup?: string } } | null)?.eval_config;
      arch ??= evalConfig?.arch ?? null;
      setup ??= evalConfig?.setup ?? null;
      const queuePos = r.status === 'queued' ? Date.parse(r.created_at) : null;
      update.run(arch, setup, JSON.stringify(headlineOf(r.kind, summary)), queuePos, r.id);
      history.run(r.id, r.created_at, r.status);
    }
  },
};

const latentTables: Migration = {
  version: 4,
  name: 'latent statistics, contexts, histograms, logit effects, Jacobian entries, matches, notes',
  up(db) {
    db.exec(`
      -- Written by a 'latents' run (child of an SAE run); one row per SAE (hook) it describes.
      CREATE TABLE latent_sets (
        run_id                TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        hook                  TEXT NOT NULL,
        width                 INTEGER NOT NULL,
        chunk                 INTEGER,                  -- staircase chunk size, NULL otherwise
        position              INTEGER NOT NULL DEFAULT 0,
        k                     INTEGER NOT NULL,
        tokens                INTEGER NOT NULL,         -- evaluation tokens the statistics are over
        dead                  INTEGER NOT NULL,
        dense                 INTEGER NOT NULL,
        tokenizer             TEXT NOT NULL,            -- how token ids read as text ('ascii')
        logit_effects         INTEGER NOT NULL,         -- 1 where direct logit effects mean something
        logit_note            TEXT NOT NULL,
        hist_min_log10        REAL NOT NULL,
        hist_max_log10        REAL NOT NULL,
        hist_bins_per_decade  INTEGER NOT NULL,
        meta_json             TEXT,
        PRIMARY KEY (run_id, hook)
      ) WITHOUT ROWID;

      -- The evaluation windows a latents run read (token ids [seqs, seq_len], int32 little-endian): contexts
      -- point into them instead of repeating their tokens.
      CREATE TABLE latent_windows (
        run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        seqs       INTEGER NOT NULL,
        seq_len    INTEGER NOT NULL,
        tokenizer  TEXT NOT NULL,
        ids        BLOB NOT NULL,
        PRIMARY KEY (run_id)
      );

      CREATE TABLE latent_summary (
        run_id           TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        hook             TEXT NOT NULL,
        latent           INTEGER NOT NULL,
        count            INTEGER NOT NULL,              -- tokens on which it is active
        freq             REAL NOT NULL,
        mean_act         REAL,                          -- over active tokens; NULL when dead
        max_act          REAL NOT NULL,
        dead             INTEGER NOT NULL,
        dense            INTEGER NOT NULL,
        chunk            INTEGER,                       -- staircase chunk of the latent
        top_tokens_json  TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (run_id, hook, latent)
      ) WITHOUT ROWID;

      -- Log-spaced activation histogram (bins in latent_sets), from first_bin on.
      CREATE TABLE latent_histograms (
        run_id       TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        hook         TEXT NOT NULL,
        latent       INTEGER NOT NULL,
        first_bin    INTEGER NOT NULL,
        counts_json  TEXT NOT NULL,
        PRIMARY KEY (run_id, hook, latent)
      ) WITHOUT ROWID;

      -- All contexts of a latent in one binary record list (format: store/latents.ts encodeContexts): top
      -- contexts by rank, then activation-quantile samples; each a window into latent_windows with the
      -- latent's non-zero activations in it. Rowid tables: rows of a kilobyte would waste most of a
      -- WITHOUT ROWID table's pages.
      CREATE TABLE latent_contexts (
        run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        hook    TEXT NOT NULL,
        latent  INTEGER NOT NULL,
        count   INTEGER NOT NULL,
        data    BLOB NOT NULL,
        PRIMARY KEY (run_id, hook, latent)
      );

      -- Direct logit effects of a latent: (int32 token id, float32 value) pairs, strongest first.
      CREATE TABLE latent_logits (
        run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        hook    TEXT NOT NULL,
        latent  INTEGER NOT NULL,
        top     BLOB NOT NULL,
        bottom  BLOB NOT NULL,
        PRIMARY KEY (run_id, hook, latent)
      );

      -- JSAE pairs: the largest mean |J| entries (upstream latent i, downstream latent j).
      CREATE TABLE latent_jacobian_pairs (
        run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        pair    TEXT NOT NULL,
        up      TEXT NOT NULL,
        down    TEXT NOT NULL,
        tokens  INTEGER NOT NULL,
        PRIMARY KEY (run_id, pair)
      ) WITHOUT ROWID;
      CREATE TABLE latent_jacobian (
        run_id    TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        pair      TEXT NOT NULL,
        i         INTEGER NOT NULL,
        j         INTEGER NOT NULL,
        mean_abs  REAL NOT NULL,
        mean      REAL NOT NULL,
        rank      INTEGER NOT NULL,                     -- among all non-zero entries of the pair
        PRIMARY KEY (run_id, pair, i, j)
      ) WITHOUT ROWID;
      CREATE INDEX latent_jacobian_down ON latent_jacobian(run_id, pair, j);

      -- One-to-one matching of two SAE runs' latents at a hook (run_id = SAE run A, other_run_id = B).
      CREATE TABLE latent_match_sets (
        run_id        TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        other_run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        hook          TEXT NOT NULL,
        method        TEXT NOT NULL,                    -- hungarian | greedy
        width_a       INTEGER NOT NULL,
        width_b       INTEGER NOT NULL,
        matched       INTEGER NOT NULL,
        mean_cos      REAL NOT NULL,
        created_at    TEXT NOT NULL,
        PRIMARY KEY (run_id, other_run_id, hook)
      ) WITHOUT ROWID;
      CREATE TABLE latent_matches (
        run_id        TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        other_run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        hook          TEXT NOT NULL,
        latent        INTEGER NOT NULL,                 -- latent of run A
        other_latent  INTEGER NOT NULL,                 -- its match in run B
        cos           REAL NOT NULL,
        PRIMARY KEY (run_id, other_run_id, hook, latent)
      ) WITHOUT ROWID;
      CREATE INDEX latent_matches_other ON latent_matches(other_run_id, hook, other_latent);

      -- Longer notes beside a latent's label (labels, schema v2, keeps the short label text).
      CREATE TABLE latent_notes (
        run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,  -- the SAE run, as labels
        hook        TEXT NOT NULL,
        latent      INTEGER NOT NULL,
        note        TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        PRIMARY KEY (run_id, hook, latent)
      ) WITHOUT ROWID;
    `);
  },
};

const runInputs: Migration = {
  version: 5,
  name: 'run inputs: the identity of every file a run reads from outside its folder',
  up(db) {
    db.exec(`
      -- Pinned when the run is submitted; checked again before it starts and when it is resumed.
      CREATE TABLE run_inputs (
        run_id         TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        path           TEXT NOT NULL,             -- absolute path as it was given
        role           TEXT NOT NULL,             -- corpus | lm | sae | ...
        sha256         TEXT NOT NULL,
        bytes          INTEGER NOT NULL,
        pinned_at      TEXT NOT NULL,
        note           TEXT,                      -- e.g. what reading it warned about
        replaced_json  TEXT,                      -- [{sha256, bytes, at}]: identities a resume accepted to replace
        PRIMARY KEY (run_id, path)
      ) WITHOUT ROWID;
    `);
  },
};

const filesLeftOut: Migration = {
  version: 6,
  name: 'runs imported from a bundle without some of their files (weights, resume state)',
  up(db) {
    db.exec(`
      -- JSON [{path, bytes, sha256, role}] (src-shared/bundle.ts LeftOutFile): files of the run's folder its
      -- bundle did not carry; NULL for a run with every file. role 'weights' makes the run "without weights".
      ALTER TABLE runs ADD COLUMN files_left_out_json TEXT;
    `);
  },
};

export const MIGRATIONS: readonly Migration[] = [
  runsMetricsArtifacts,
  scalarTables,
  workstationTables,
  latentTables,
  runInputs,
  filesLeftOut,
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;
