import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store, newRunId, type RunRecord } from '../../src-main/store/index.ts';
import { FakeClock, makeTempDir, removeDir } from './store.helpers.ts';

let tmp: string;
let clock: FakeClock;
let store: Store;

beforeEach(() => {
  tmp = makeTempDir();
  clock = new FakeClock();
  store = Store.open(tmp, { appVersion: '0.1.0-test', now: clock.now });
});
afterEach(() => {
  store.close();
  removeDir(tmp);
});

describe('run ids', () => {
  it('are kind, UTC date and time, and a random suffix', () => {
    expect(newRunId('lm', new Date('2026-11-22T15:30:12.999Z'), 'ab12')).toBe('lm-20261122-153012-ab12');
    expect(newRunId('sae')).toMatch(/^sae-\d{8}-\d{6}-[0-9a-f]{4}$/);
  });

  it('sort by creation time within a kind', () => {
    const ids = ['2026-01-09T23:59:59Z', '2026-01-10T00:00:00Z', '2026-11-02T08:00:00Z'].map((t) =>
      newRunId('lm', new Date(t)),
    );
    expect([...ids].sort()).toEqual(ids);
  });

  it('reject kinds that would make ambiguous ids or folder names', () => {
    for (const kind of ['', 'LM', 'lm-x', '../x', 'a/b']) {
      expect(() => newRunId(kind)).toThrow(expect.objectContaining({ code: 'INVALID_RUN' }));
    }
  });

  it('stay unique when many runs are created in the same second', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => store.createRun({ kind: 'sae' }).id));
    expect(ids.size).toBe(1000);
  });
});

describe('createRun / getRun', () => {
  it('stores the run queued, with config, seed and app version', () => {
    const run = store.createRun({ kind: 'lm', name: 'toy', config: { d_model: 64, layers: 4 }, seed: 42 });
    expect(run).toMatchObject({
      kind: 'lm',
      name: 'toy',
      status: 'queued',
      config: { d_model: 64, layers: 4 },
      seed: 42,
      parentId: null,
      appVersion: '0.1.0-test',
      createdAt: '2026-11-22T15:30:12.000Z',
      startedAt: null,
      finishedAt: null,
      wallSeconds: null,
      progress: null,
      summary: null,
      error: null,
    });
    expect(run.id).toMatch(/^lm-20261122-153012-[0-9a-f]{4}$/);
    expect(store.getRun(run.id)).toEqual(run);
    expect(store.getRun('nope')).toBeUndefined();
  });

  it('links a child run to its parent and refuses a missing parent', () => {
    const lm = store.createRun({ kind: 'lm' });
    expect(store.createRun({ kind: 'sae', parentId: lm.id }).parentId).toBe(lm.id);
    expect(() => store.createRun({ kind: 'sae', parentId: 'lm-missing' })).toThrow(
      expect.objectContaining({ code: 'RUN_NOT_FOUND', message: 'Parent run lm-missing not found' }),
    );
  });

  it('keeps an explicit id (bundle import) and refuses duplicates and unsafe ids', () => {
    expect(store.createRun({ kind: 'lm', id: 'lm-20250101-000000-beef' }).id).toBe('lm-20250101-000000-beef');
    expect(() => store.createRun({ kind: 'lm', id: 'lm-20250101-000000-beef' })).toThrow(/already exists/);
    expect(() => store.createRun({ kind: 'lm', id: '../etc' })).toThrow(
      expect.objectContaining({ code: 'INVALID_RUN' }),
    );
    expect(() => store.createRun({ kind: 'lm', seed: 1.5 })).toThrow(/seed/);
  });
});

describe('run lifecycle', () => {
  it('goes queued → running → completed with timings, progress and summary', () => {
    const run = store.createRun({ kind: 'sae', seed: 1 });
    clock.advance(5);
    const started = store.startRun(run.id, { backend: 'wasm' });
    expect(started).toMatchObject({
      status: 'running',
      backend: 'wasm',
      startedAt: '2026-11-22T15:30:17.000Z',
      ownerPid: process.pid,
      ownerHost: os.hostname(),
    });

    clock.advance(30);
    expect(store.setProgress(run.id, { step: 300, total: 7500, rate: 10, eta: 720 })).toBe(true);
    expect(store.getRun(run.id)).toMatchObject({
      progress: { step: 300, total: 7500, rate: 10, eta: 720 },
      updatedAt: '2026-11-22T15:30:47.000Z',
    });

    clock.advance(90);
    const done = store.finishRun(run.id, { l0: 10, explained_variance: 0.93 });
    expect(done).toMatchObject({
      status: 'completed',
      finishedAt: '2026-11-22T15:32:17.000Z',
      wallSeconds: 120,
      summary: { l0: 10, explained_variance: 0.93 },
    });
    expect(() => store.updateRunStatus(run.id, 'running')).toThrow(
      expect.objectContaining({ code: 'INVALID_TRANSITION', message: expect.stringContaining('final') }),
    );
  });

  it('refuses illegal transitions and unknown runs', () => {
    const run = store.createRun({ kind: 'lm' });
    expect(() => store.finishRun(run.id, {})).toThrow(
      expect.objectContaining({
        code: 'INVALID_TRANSITION',
        message: expect.stringContaining("'queued' to 'completed'"),
      }),
    );
    expect(() => store.startRun('lm-missing')).toThrow(expect.objectContaining({ code: 'RUN_NOT_FOUND' }));
    expect(store.getRun(run.id)?.status).toBe('queued');
  });

  it('records a failure, and clears it when the run is retried', () => {
    const run = store.createRun({ kind: 'lm' });
    store.startRun(run.id);
    clock.advance(3);
    const failed = store.failRun(run.id, new Error('out of memory'));
    expect(failed).toMatchObject({ status: 'failed', error: 'out of memory', wallSeconds: 3 });
    expect(failed.finishedAt).not.toBeNull();
    store.updateRunStatus(run.id, 'queued');
    const retried = store.startRun(run.id);
    expect(retried).toMatchObject({ status: 'running', error: null, finishedAt: null, wallSeconds: 3 });
  });

  it('cancels a queued run without ever starting it', () => {
    const run = store.createRun({ kind: 'scalar' });
    expect(store.updateRunStatus(run.id, 'cancelled')).toMatchObject({
      status: 'cancelled',
      startedAt: null,
      wallSeconds: null,
    });
  });

  it('ignores progress that arrives after the run stopped running', () => {
    const run = store.createRun({ kind: 'lm' });
    expect(store.setProgress(run.id, { step: 1, total: 2 })).toBe(false);
    store.startRun(run.id);
    store.updateRunStatus(run.id, 'cancelled');
    expect(store.setProgress(run.id, { step: 2, total: 2 })).toBe(false);
    expect(store.getRun(run.id)?.progress).toBeNull();
    expect(() => store.setProgress('lm-missing', { step: 1, total: 2 })).toThrow(/not found/);
  });
});

describe('markInterruptedRuns', () => {
  function runningAs(ownerPid: number, ownerHost = os.hostname()): RunRecord {
    const run = store.createRun({ kind: 'sae' });
    return store.startRun(run.id, { ownerPid, ownerHost });
  }

  it('interrupts runs whose process is gone and keeps live ones running', () => {
    const child = spawnSync(process.execPath, ['-e', '0']); // a pid that has certainly exited
    const dead = runningAs(child.pid!);
    const otherHost = runningAs(process.ppid, 'another-machine');
    const previousSelf = runningAs(process.pid); // same pid: a former process (e.g. pid 1 in a container)
    const live = runningAs(process.ppid); // the test runner's parent is alive
    const queued = store.createRun({ kind: 'lm' });

    const interrupted = store.markInterruptedRuns();
    expect(interrupted.sort()).toEqual([dead.id, otherHost.id, previousSelf.id].sort());
    expect(store.getRun(dead.id)?.status).toBe('interrupted');
    expect(store.getRun(live.id)?.status).toBe('running');
    expect(store.getRun(queued.id)?.status).toBe('queued');
  });

  it('counts wall time up to the last heartbeat and lets the run resume', () => {
    const run = store.createRun({ kind: 'sae' });
    store.startRun(run.id, { ownerPid: 999_999_999 });
    clock.advance(10);
    store.setProgress(run.id, { step: 100, total: 1000 });
    clock.advance(3600); // the laptop lid was closed, the process killed
    expect(store.markInterruptedRuns({ isProcessAlive: () => false })).toEqual([run.id]);
    const interrupted = store.getRun(run.id)!;
    expect(interrupted).toMatchObject({ status: 'interrupted', wallSeconds: 10, finishedAt: null });
    expect(interrupted.progress).toEqual({ step: 100, total: 1000 });

    store.startRun(run.id);
    clock.advance(5);
    expect(store.finishRun(run.id, {}).wallSeconds).toBe(15);
  });

  it('treats a stale heartbeat as dead when asked to', () => {
    const run = runningAs(process.ppid);
    clock.advance(600);
    expect(store.markInterruptedRuns({ staleAfterMs: 3_600_000 })).toEqual([]);
    expect(store.markInterruptedRuns({ staleAfterMs: 300_000 })).toEqual([run.id]);
  });
});

describe('listRuns', () => {
  beforeEach(() => {
    const lm = store.createRun({ kind: 'lm', name: 'Toy LM ascii-64x4' });
    clock.advance(1);
    const sae = store.createRun({ kind: 'sae', name: 'topk_x8 blocks.0', parentId: lm.id });
    clock.advance(1);
    store.createRun({ kind: 'sae', name: 'staircase x8', parentId: lm.id });
    clock.advance(1);
    store.createRun({ kind: 'scalar', name: 'tblock eval', parentId: sae.id });
    store.startRun(sae.id);
  });

  it('lists newest first', () => {
    expect(store.listRuns().map((r) => r.name)).toEqual([
      'tblock eval',
      'staircase x8',
      'topk_x8 blocks.0',
      'Toy LM ascii-64x4',
    ]);
  });

  it('filters by kind, status, parent and text', () => {
    expect(store.listRuns({ kind: 'sae' }).map((r) => r.name)).toEqual(['staircase x8', 'topk_x8 blocks.0']);
    expect(store.listRuns({ kind: ['lm', 'scalar'] })).toHaveLength(2);
    expect(store.listRuns({ status: 'running' }).map((r) => r.name)).toEqual(['topk_x8 blocks.0']);
    expect(store.listRuns({ status: ['queued'], kind: 'sae' }).map((r) => r.name)).toEqual(['staircase x8']);
    expect(store.listRuns({ status: [] })).toEqual([]);
    const lm = store.listRuns({ kind: 'lm' })[0];
    expect(store.listRuns({ parentId: lm.id })).toHaveLength(2);
    expect(store.listRuns({ search: 'toy lm' }).map((r) => r.name)).toEqual(['Toy LM ascii-64x4']);
    expect(store.listRuns({ search: 'scalar-2026' }).map((r) => r.name)).toEqual(['tblock eval']); // by id
    // '_' is a literal underscore, not LIKE's any-character wildcard.
    expect(store.listRuns({ search: 'topk_' }).map((r) => r.name)).toEqual(['topk_x8 blocks.0']);
    expect(store.listRuns({ search: 'k_x' })).toHaveLength(1);
    expect(store.listRuns({ search: 'e_x' })).toHaveLength(0);
    expect(store.listRuns({ search: '%' })).toHaveLength(0);
  });

  it('pages with limit and offset and counts with the same filters', () => {
    expect(store.listRuns({ limit: 2 }).map((r) => r.name)).toEqual(['tblock eval', 'staircase x8']);
    expect(store.listRuns({ limit: 2, offset: 2 }).map((r) => r.name)).toEqual([
      'topk_x8 blocks.0',
      'Toy LM ascii-64x4',
    ]);
    expect(store.listRuns({ offset: 3 })).toHaveLength(1);
    expect(store.listRuns({ limit: 0 })).toEqual([]);
    expect(store.countRuns()).toBe(4);
    expect(store.countRuns({ kind: 'sae' })).toBe(2);
  });
});

describe('deleteRun', () => {
  async function runWithData(kind: string, parentId?: string): Promise<RunRecord> {
    const run = store.createRun({ kind, parentId });
    store.recordMetrics(run.id, 0, '', { loss: 1 });
    const file = store.artifactPath(run.id, 'sae/weights.bin');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, 'weights');
    await store.registerArtifact({ runId: run.id, kind: 'sae', name: 'sae/weights.bin' });
    store.db.prepare(`INSERT INTO edges VALUES (?, 'p', 0, 1, 2, 0.5)`).run(run.id);
    store.db.prepare(`INSERT INTO labels VALUES (?, 'h', 1, 'x', 't')`).run(run.id);
    return run;
  }

  function countRows(runId: string): number {
    return ['metrics', 'artifacts', 'edges', 'labels'].reduce(
      (sum, table) =>
        sum +
        (store.db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE run_id = ?`).get(runId) as { n: number })
          .n,
      0,
    );
  }

  it('removes the run, its rows in every table and its artifact folder, and nothing else', async () => {
    const keep = await runWithData('lm');
    const doomed = await runWithData('lm');
    const folder = path.join(tmp, 'artifacts', doomed.id);
    expect(fs.existsSync(folder)).toBe(true);
    expect(countRows(doomed.id)).toBe(4);

    expect(store.deleteRun(doomed.id)).toEqual([doomed.id]);
    expect(store.getRun(doomed.id)).toBeUndefined();
    expect(countRows(doomed.id)).toBe(0);
    expect(fs.existsSync(folder)).toBe(false);

    expect(countRows(keep.id)).toBe(4);
    await expect(
      store.verifyArtifact({ runId: keep.id, kind: 'sae', name: 'sae/weights.bin' }),
    ).resolves.toBeTruthy();
  });

  it('refuses to orphan dependent runs unless asked to delete them too', async () => {
    const lm = await runWithData('lm');
    const sae = await runWithData('sae', lm.id);
    const scalar = await runWithData('scalar', sae.id);
    expect(() => store.deleteRun(lm.id)).toThrow(
      expect.objectContaining({ code: 'RUN_HAS_CHILDREN', message: expect.stringContaining(sae.id) }),
    );
    expect(store.getRun(lm.id)).toBeDefined();

    expect(store.deleteRun(lm.id, { withDescendants: true }).sort()).toEqual(
      [lm.id, sae.id, scalar.id].sort(),
    );
    expect(store.countRuns()).toBe(0);
    expect(fs.readdirSync(path.join(tmp, 'artifacts'))).toEqual([]);
  });

  it('refuses to delete a running run', () => {
    const run = store.createRun({ kind: 'lm' });
    store.startRun(run.id);
    expect(() => store.deleteRun(run.id)).toThrow(expect.objectContaining({ code: 'RUN_ACTIVE' }));
    expect(() => store.deleteRun('lm-missing')).toThrow(expect.objectContaining({ code: 'RUN_NOT_FOUND' }));
  });
});
