/**
 * The comparer's paired bootstrap runs in a worker thread: `compare.scalar` through the service answers exactly
 * what `scalar compare`'s code answers in the calling thread, the event loop keeps ticking meanwhile (a handler
 * that bootstrapped in the server's thread would let no timer fire before it returned), identical requests are
 * answered from the cache, errors arrive as the same sentence, and closing the service ends the thread.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isWithoutWeights } from '../../src-shared/bundle.ts';
import { scalarComparison } from '../../src-main/api/compare.ts';
import { ScalarService } from '../../src-main/api/service.ts';
import { PROJECT_ROOT } from '../../src-main/server/rendererBuild.ts';
import { makeTempDir, removeDir } from './store.helpers.ts';

const EXAMPLE = path.join(PROJECT_ROOT, 'resources', 'example-project', 'quick-reproduction.zip');
let tmp: string;
let service: ScalarService;
let staircase: string;
let topk: string;

beforeAll(async () => {
  tmp = makeTempDir('scalar-compare-thread-');
  service = new ScalarService({ dataDir: path.join(tmp, 'data'), mode: 'cli', exampleBundle: EXAMPLE });
  await service.call('example.import', {});
  // Seed 0's tblock SCALAR runs travel with their per-token KL tables (the rest are without weights).
  const scalar = service.store.listRuns({ kind: 'scalar', status: 'completed' });
  const named = (arch: string) =>
    scalar.find((r) => r.name.includes(`${arch} tblock`) && r.name.endsWith('s0') && !isWithoutWeights(r));
  staircase = named('staircase')!.id;
  topk = named('topk')!.id;
}, 120_000);

afterAll(async () => {
  await service?.close();
  if (tmp) removeDir(tmp);
});

describe('compare.scalar in a worker thread', () => {
  it('answers what the calling-thread code answers, while the event loop keeps ticking', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 2);
    const answer = await service.call('compare.scalar', { run: staircase, baseline: topk, resamples: 400 });
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
    expect(answer).toEqual(scalarComparison(service.store, staircase, topk, 400, 0));
    expect(answer.pairs.length).toBe(4);
  }, 120_000);

  it('answers an identical request from the cache, and a failing one with its sentence', async () => {
    const first = await service.call('compare.scalar', { run: staircase, baseline: topk, resamples: 400 });
    const asked = vi.spyOn(service.compareThread, 'compare');
    const again = await service.call('compare.scalar', { run: staircase, baseline: topk, resamples: 400 });
    expect(asked).not.toHaveBeenCalled();
    asked.mockRestore();
    expect(again).toEqual(first);
    const repro = service.store.listRuns({ kind: 'reproduce' })[0];
    await expect(service.call('compare.scalar', { run: repro.id, baseline: topk })).rejects.toThrow(
      `run ${repro.id} is a completed reproduce run, not a completed SCALAR run`,
    );
  }, 60_000);
});
