/**
 * The workstation's Api over a real store (no training): the run table query (filters, search over config,
 * sort by headline metric, grouping, paging, facets), user metadata, lineage, delete with dependents, the
 * persistent queue order, settings and estimates. Expected values are written by hand from the rows the test
 * creates, not read back from the code under test.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ScalarService } from '../../src-main/api/service.ts';
import { SAE_PRESETS, SaeTrainConfigSchema } from '../../src-shared/sae.ts';
import type { Store } from '../../src-main/store/index.ts';
import { FakeClock, makeTempDir, removeDir } from './store.helpers.ts';

const saeConfig = (arch: string, setup: string, steps = 100) => ({
  kind: 'train-sae',
  config: { arch, setup, lm: 'resources:ascii-64x4-brown', schedule: { steps } },
});

/** A completed run with a summary; wall time set by advancing the clock while it runs. */
function finished(
  store: Store,
  clock: FakeClock,
  input: Parameters<Store['createRun']>[0],
  summary: unknown,
  wall = 10,
) {
  const run = store.createRun(input);
  store.startRun(run.id);
  clock.advance(wall);
  return store.finishRun(run.id, summary);
}

describe('workstation Api', () => {
  let tmp: string;
  let service: ScalarService;
  let store: Store;
  const clock = new FakeClock();

  beforeEach(() => {
    tmp = makeTempDir('scalar-api-');
    service = new ScalarService({ dataDir: tmp, mode: 'cli' });
    store = service.store;
    // The service's store uses the real clock; tests that need exact wall times build runs through their own.
    (store as unknown as { now: () => Date }).now = clock.now;
  });
  afterEach(async () => {
    await service.close();
    removeDir(tmp);
  });

  function seedTable() {
    const lm = finished(
      store,
      clock,
      { kind: 'lm', name: 'toy lm', config: { kind: 'train-lm', config: { preset: 'quick' } }, seed: 0 },
      { valLoss: 1.75 },
    );
    clock.advance(1);
    const a = finished(
      store,
      clock,
      { kind: 'sae', name: 'topk tblock s0', parentId: lm.id, config: saeConfig('topk', 'tblock'), seed: 0 },
      {
        compoundCeLossIncrease: 0.3,
        saes: [
          { explained_variance: 0.8, l0: 8 },
          { explained_variance: 0.6, l0: 8 },
        ],
      },
    );
    clock.advance(1);
    const b = finished(
      store,
      clock,
      {
        kind: 'sae',
        name: 'staircase tblock s1',
        parentId: lm.id,
        config: saeConfig('staircase', 'tblock'),
        seed: 1,
      },
      { compoundCeLossIncrease: 0.2, saes: [{ explained_variance: 0.9, l0: 8 }] },
    );
    clock.advance(1);
    const c = finished(
      store,
      clock,
      {
        kind: 'sae',
        name: 'jsae fflayer s0',
        parentId: lm.id,
        config: saeConfig('jsae', 'fflayer'),
        seed: 0,
      },
      { compoundCeLossIncrease: 0.5, saes: [{ explained_variance: 0.5, l0: 8 }] },
    );
    clock.advance(1);
    const s = finished(
      store,
      clock,
      {
        kind: 'scalar',
        name: 'SCALAR topk',
        parentId: a.id,
        config: { kind: 'scalar', config: { sae: a.id } },
        arch: 'topk',
        setup: 'tblock',
      },
      {
        eval_result_metrics: {
          pairs: [
            { scalar_auc_abs: 1, scalar_auc_rel: 0.2 },
            { scalar_auc_abs: 3, scalar_auc_rel: 0.4 },
          ],
        },
      },
    );
    return { lm, a, b, c, s };
  }

  it('filters, searches config values, sorts by a headline metric and pages in SQL', async () => {
    const { a, b, c, s } = seedTable();
    const saes = await service.call('runs.query', {
      kinds: ['sae'],
      sort: 'explained_variance',
      dir: 'desc',
    });
    // EV means by hand: b 0.9, a (0.8 + 0.6) / 2 = 0.7, c 0.5.
    expect(saes.rows.map((r) => r.id)).toEqual([b.id, a.id, c.id]);
    expect(saes.rows[1].headline.explained_variance).toBeCloseTo(0.7, 12);
    expect(saes.total).toBe(3);
    const asc = await service.call('runs.query', { kinds: ['sae'], sort: 'ce_loss_increase', dir: 'asc' });
    expect(asc.rows.map((r) => r.id)).toEqual([b.id, a.id, c.id]);
    // Runs without the metric come last in both directions.
    const all = await service.call('runs.query', { sort: 'auc_abs', dir: 'asc' });
    expect(all.rows[0].id).toBe(s.id);
    expect(all.rows[0].headline.auc_abs).toBe(2);
    // Search reaches config values ('fflayer' is only in c's config) and is case-insensitive.
    expect((await service.call('runs.query', { search: 'FFLAYER' })).rows.map((r) => r.id)).toEqual([c.id]);
    expect((await service.call('runs.query', { archs: ['topk'] })).rows.map((r) => r.id).sort()).toEqual(
      [a.id, s.id].sort(),
    );
    expect((await service.call('runs.query', { setups: ['tblock'], kinds: ['sae'] })).total).toBe(2);
    const page = await service.call('runs.query', { limit: 2, offset: 2, sort: 'created', dir: 'asc' });
    expect(page.total).toBe(5);
    expect(page.rows.map((r) => r.id)).toEqual([b.id, c.id]);
    expect(page.facets.kinds).toEqual([
      { value: 'sae', count: 3 },
      { value: 'lm', count: 1 },
      { value: 'scalar', count: 1 },
    ]);
    expect(page.facets.archs.find((f) => f.value === 'topk')?.count).toBe(2);
  });

  it('groups rows contiguously by the group key, then sorts inside groups', async () => {
    seedTable();
    const grouped = await service.call('runs.query', { groupBy: 'seed', sort: 'name', dir: 'asc' });
    // seed 0: jsae, toy lm, topk (by name); seed 1: staircase; no seed (the SCALAR run) last.
    expect(grouped.rows.map((r) => [r.seed, r.name])).toEqual([
      [0, 'jsae fflayer s0'],
      [0, 'topk tblock s0'],
      [0, 'toy lm'],
      [1, 'staircase tblock s1'],
      [null, 'SCALAR topk'],
    ]);
  });

  it('renames, tags and notes a run; tags filter and are searchable', async () => {
    const { a } = seedTable();
    const updated = await service.call('runs.update', {
      id: a.id,
      name: ' baseline ',
      tags: ['paper', 'fig-2'],
      note: 'k=8',
    });
    expect(updated).toMatchObject({ name: 'baseline', tags: ['fig-2', 'paper'], note: 'k=8' });
    expect((await service.call('runs.query', { tag: 'paper' })).rows.map((r) => r.id)).toEqual([a.id]);
    expect((await service.call('runs.query', { search: 'fig-2' })).rows.map((r) => r.id)).toEqual([a.id]);
    await expect(service.call('runs.update', { id: a.id, tags: ['two words'] })).rejects.toThrow(/tag/);
    await expect(service.call('runs.update', { id: 'lm-20990101-000000-zzzz', name: 'x' })).rejects.toThrow(
      /not found/,
    );
  });

  it('shows lineage and status history; deleting refuses dependents unless confirmed, then removes files', async () => {
    const { lm, a, b, c, s } = seedTable();
    const detail = await service.call('runs.get', { id: s.id });
    expect(detail.ancestors.map((r) => r.id)).toEqual([a.id, lm.id]);
    expect(detail.statusHistory.map((h) => h.status)).toEqual(['queued', 'running', 'completed']);
    expect((await service.call('runs.get', { id: lm.id })).children.map((r) => r.id)).toEqual([
      a.id,
      b.id,
      c.id,
    ]);
    expect(new Set((await service.call('runs.dependents', { ids: [a.id] })).map((r) => r.id))).toEqual(
      new Set([s.id]),
    );
    expect((await service.call('runs.dependents', { ids: [lm.id] })).length).toBe(4);

    const dir = path.join(tmp, 'artifacts', a.id);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'x.bin'), 'x');
    await expect(service.call('runs.delete', { ids: [a.id] })).rejects.toThrow(/1 run\(s\) depend/);
    expect(store.getRun(a.id)).toBeDefined();
    const result = await service.call('runs.delete', { ids: [a.id], withDependents: true });
    expect(new Set(result.deleted)).toEqual(new Set([a.id, s.id]));
    expect(store.getRun(s.id)).toBeUndefined();
    expect(fs.existsSync(dir)).toBe(false);
    await expect(service.call('runs.delete', { ids: ['sae-20990101-000000-zzzz'] })).rejects.toThrow(
      /not found/,
    );
  });

  it('keeps the queue order in the store; reorder moves a run; unknown ids and finished runs are refused', async () => {
    const runs = ['one', 'two', 'three'].map((name) => {
      clock.advance(1);
      return store.createRun({ kind: 'lm', name });
    });
    const ids = runs.map((r) => r.id);
    expect((await service.call('jobs.queue', {})).queued.map((r) => r.name)).toEqual(['one', 'two', 'three']);
    const moved = await service.call('jobs.reorder', { id: ids[2], index: 0 });
    expect(moved.queued.map((r) => r.name)).toEqual(['three', 'one', 'two']);
    await service.call('jobs.reorder', { id: ids[2], index: 99 });
    expect((await service.call('jobs.queue', {})).queued.map((r) => r.name)).toEqual(['one', 'two', 'three']);
    await expect(service.call('jobs.cancel', { id: 'lm-20990101-000000-zzzz' })).rejects.toThrow(/not found/);
    await service.call('jobs.cancel', { id: ids[1] });
    expect(store.getRun(ids[1])?.status).toBe('cancelled');
    await expect(service.call('jobs.reorder', { id: ids[1], index: 0 })).rejects.toThrow(/only queued runs/);
    await expect(service.call('jobs.cancel', { id: ids[1] })).rejects.toThrow(/only queued or running/);
    // A run that goes back to the queue (resume) joins its end.
    clock.advance(1);
    store.updateRunStatus(ids[1], 'queued');
    expect((await service.call('jobs.queue', {})).queued.map((r) => r.name)).toEqual(['one', 'three', 'two']);
  });

  it('stores settings', async () => {
    expect(await service.call('settings.get', {})).toEqual({ concurrency: 1, autoResume: false });
    expect(await service.call('settings.set', { autoResume: true })).toEqual({
      concurrency: 1,
      autoResume: true,
    });
    await expect(service.call('settings.set', { concurrency: 0 })).rejects.toThrow();
    expect((await service.call('jobs.queue', {})).settings).toEqual({ concurrency: 1, autoResume: true });
  });

  it('estimates from finished runs of the same shape, scaled by steps; says so when it has none', async () => {
    finished(store, clock, { kind: 'sae', config: saeConfig('topk', 'tblock', 100) }, {}, 20);
    finished(store, clock, { kind: 'sae', config: saeConfig('topk', 'tblock', 200) }, {}, 60);
    finished(store, clock, { kind: 'sae', config: saeConfig('topk', 'tblock', 100) }, {}, 40);
    // Seconds per step: 0.2, 0.3, 0.4 → median 0.3; 300 steps → 90 s.
    const spec = (arch: 'topk' | 'staircase', steps: number) => ({
      kind: 'train-sae' as const,
      config: SaeTrainConfigSchema.parse({
        preset: 'quick',
        lm: 'resources:ascii-64x4-brown',
        arch,
        setup: 'tblock',
        schedule: { ...SAE_PRESETS.quick, steps },
      }),
    });
    const e = await service.call('jobs.estimate', { specs: [spec('topk', 300)] });
    expect(e.items[0].seconds).toBeCloseTo(90, 9);
    expect(e.items[0].basis).toMatch(/median of 3 finished topk tblock SAE runs/);
    const none = await service.call('jobs.estimate', { specs: [spec('staircase', 300)] });
    expect(none).toEqual({
      items: [{ seconds: null, basis: 'no finished staircase tblock SAE run on this machine yet' }],
      totalSeconds: null,
    });
  });
});
