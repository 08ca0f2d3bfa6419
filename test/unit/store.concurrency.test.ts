/**
 * Two processes sharing a data dir (a reproduction and a second CLI job, the app and the CLI) write to one
 * database. A write transaction begun DEFERRED reads first and takes a snapshot; if the other connection commits
 * before it writes, SQLite answers SQLITE_BUSY_SNAPSHOT at once, without waiting for the busy timeout — that failed
 * a 3-seed reproduction ("could not record the job's metrics message: database is locked"). Every write transaction
 * therefore begins IMMEDIATE (the write lock first, waiting for it under the busy timeout).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store, type MetricRow } from '../../src-main/store/index.ts';
import { makeTempDir, removeDir } from './store.helpers.ts';

let tmp: string;
let a: Store;
let b: Store;

beforeEach(() => {
  tmp = makeTempDir();
  a = Store.open(tmp);
  // The other process: it gives up at once when the lock is taken (no waiting in this one thread).
  b = Store.open(tmp, { busyTimeoutMs: 0 });
});
afterEach(() => {
  a.close();
  b.close();
  removeDir(tmp);
});

describe('store: writers in two processes', () => {
  it('a metrics write does not fail when the other connection commits while it is under way', () => {
    const runId = a.createRun({ kind: 'sae' }).id;
    let otherCommitted: boolean | null = null;
    function* rows(): Generator<MetricRow> {
      // The transaction's first read (in a deferred transaction, this takes the snapshot) …
      a.getRun(runId);
      // … then the other process commits. With the write lock held it cannot, and that is the point.
      try {
        b.setSetting('other-process', 1);
        otherCommitted = true;
      } catch {
        otherCommitted = false;
      }
      yield { runId, key: 'loss', step: 1, value: 0.5 };
    }
    expect(a.recordMetricRows(rows())).toBe(1);
    expect(otherCommitted).toBe(false);
    expect(a.getMetricSeries(runId, 'loss')).toEqual([{ step: 1, value: 0.5 }]);
  });

  it('every write transaction in the main process begins IMMEDIATE (read-only snapshots listed by name)', () => {
    const root = path.resolve(import.meta.dirname, '../../src-main');
    const READ_ONLY = new Set(['store/bundle.ts']); // the export's one consistent snapshot of every row
    const offenders: string[] = [];
    const walk = (dir: string): string[] =>
      fs
        .readdirSync(dir, { withFileTypes: true })
        .flatMap((e) =>
          e.isDirectory()
            ? walk(path.join(dir, e.name))
            : e.name.endsWith('.ts')
              ? [path.join(dir, e.name)]
              : [],
        );
    for (const file of walk(root)) {
      const rel = path.relative(root, file).split(path.sep).join('/');
      const src = fs.readFileSync(file, 'utf8');
      for (let i = src.indexOf('.transaction('); i >= 0; i = src.indexOf('.transaction(', i + 1)) {
        // The call's closing parenthesis, then what follows it.
        let depth = 0;
        let j = i + '.transaction'.length;
        for (; j < src.length; j++) {
          if (src[j] === '(') depth++;
          else if (src[j] === ')' && --depth === 0) break;
        }
        const after = src.slice(j + 1).trimStart();
        if (!after.startsWith('.immediate(') && !READ_ONLY.has(rel))
          offenders.push(`${rel}:${src.slice(0, i).split('\n').length}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
