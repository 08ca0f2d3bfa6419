import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store, type MetricRow } from '../../src-main/store/index.ts';
import { makeTempDir, removeDir } from './store.helpers.ts';

let tmp: string;
let store: Store;
let runId: string;

beforeEach(() => {
  tmp = makeTempDir();
  store = Store.open(tmp);
  runId = store.createRun({ kind: 'sae' }).id;
});
afterEach(() => {
  store.close();
  removeDir(tmp);
});

const HOOK_A = 'blocks.0.hook_resid_pre';
const HOOK_B = 'blocks.1.hook_resid_pre';

describe('recordMetrics', () => {
  it('writes one step of several keys and reads each series back', () => {
    expect(store.recordMetrics(runId, 0, '', { loss: 3.5, lr: 1e-3 })).toBe(2);
    store.recordMetrics(runId, 10, '', { loss: 2.5, lr: 9e-4 });
    expect(store.getMetricSeries(runId, 'loss')).toEqual([
      { step: 0, value: 3.5 },
      { step: 10, value: 2.5 },
    ]);
    expect(store.getMetricSeries(runId, 'lr', '')).toEqual([
      { step: 0, value: 1e-3 },
      { step: 10, value: 9e-4 },
    ]);
    expect(store.getMetricSeries(runId, 'absent')).toEqual([]);
  });

  it('keeps the scopes of concurrently trained SAEs apart', () => {
    store.recordMetrics(runId, 5, HOOK_A, { l0: 10, mse: 0.2 });
    store.recordMetrics(runId, 5, HOOK_B, { l0: 12, mse: 0.3 });
    expect(store.getMetricSeries(runId, 'l0', HOOK_A)).toEqual([{ step: 5, value: 10 }]);
    expect(store.getMetricSeries(runId, 'l0', HOOK_B)).toEqual([{ step: 5, value: 12 }]);
    expect(store.getMetricSeries(runId, 'l0')).toEqual([]); // run-level scope is ''
    expect(store.listMetricKeys(runId)).toEqual([
      { scope: HOOK_A, key: 'l0', points: 1 },
      { scope: HOOK_A, key: 'mse', points: 1 },
      { scope: HOOK_B, key: 'l0', points: 1 },
      { scope: HOOK_B, key: 'mse', points: 1 },
    ]);
  });

  it('overwrites a re-recorded step (resume from checkpoint)', () => {
    store.recordMetrics(runId, 100, '', { loss: 2 });
    store.recordMetrics(runId, 100, '', { loss: 1.9 });
    expect(store.getMetricSeries(runId, 'loss')).toEqual([{ step: 100, value: 1.9 }]);
  });

  it('round-trips NaN and infinities', () => {
    store.recordMetrics(runId, 0, '', { loss: Number.NaN, grad: Infinity, neg: -Infinity });
    expect(store.getMetricSeries(runId, 'loss')[0].value).toBeNaN();
    expect(store.getMetricSeries(runId, 'grad')).toEqual([{ step: 0, value: Infinity }]);
    expect(store.getMetricSeries(runId, 'neg')).toEqual([{ step: 0, value: -Infinity }]);
  });

  it('rejects bad rows and an unknown run, writing nothing of the batch', () => {
    expect(() => store.recordMetrics(runId, -1, '', { loss: 1 })).toThrow(
      expect.objectContaining({ code: 'INVALID_METRIC' }),
    );
    expect(() => store.recordMetrics(runId, 1.5, '', { loss: 1 })).toThrow(/non-negative integer/);
    expect(() => store.recordMetrics(runId, 1, '', { '': 1 })).toThrow(/non-empty/);
    expect(() => store.recordMetrics(runId, 1, '', { loss: '1' as unknown as number })).toThrow(/number/);
    expect(() =>
      store.recordMetricRows([
        { runId, step: 1, key: 'loss', value: 1 },
        { runId: 'sae-missing', step: 1, key: 'loss', value: 1 },
      ]),
    ).toThrow(expect.objectContaining({ code: 'RUN_NOT_FOUND' }));
    expect(store.listMetricKeys(runId)).toEqual([]);
  });
});

describe('bulk metrics', () => {
  it('inserts tens of thousands of rows in one batch quickly and reads series in step order', () => {
    const steps = 5000;
    const keys = ['l0', 'mse', 'explained_variance', 'frac_alive'];
    // Steps arrive shuffled, so the step order of the read-back comes from the query, not from insertion.
    const order = Array.from({ length: steps }, (_, i) => i).sort(
      (a, b) => ((a * 7919) % steps) - ((b * 7919) % steps),
    );
    function* rows(): Generator<MetricRow> {
      for (const step of order) {
        for (const scope of [HOOK_A, HOOK_B]) {
          for (const key of keys) yield { runId, step, scope, key, value: step + keys.indexOf(key) / 10 };
        }
      }
    }
    const started = performance.now();
    expect(store.recordMetricRows(rows())).toBe(steps * 2 * keys.length);
    const elapsedMs = performance.now() - started;
    expect(elapsedMs).toBeLessThan(5000); // ~100 ms here; a row-per-transaction regression takes far longer

    const series = store.getMetricSeries(runId, 'mse', HOOK_B);
    expect(series).toHaveLength(steps);
    expect(series.map((p) => p.step)).toEqual(Array.from({ length: steps }, (_, i) => i));
    expect(series[1234]).toEqual({ step: 1234, value: 1234.1 });
  });

  it('handles one transaction per logged step at training-loop rates', () => {
    const started = performance.now();
    for (let step = 0; step < 2000; step++)
      store.recordMetrics(runId, step, HOOK_A, { l0: 10, mse: 1 / (step + 1) });
    expect(performance.now() - started).toBeLessThan(5000);
    expect(store.getMetricSeries(runId, 'mse', HOOK_A)).toHaveLength(2000);
  });
});

describe('latestMetrics', () => {
  it('returns the value at the highest step of every scope and key', () => {
    store.recordMetrics(runId, 0, '', { loss: 3, lr: 0.001 });
    store.recordMetrics(runId, 20, '', { loss: 1 });
    store.recordMetrics(runId, 10, '', { loss: 2 });
    store.recordMetrics(runId, 7, HOOK_A, { l0: 11 });
    store.recordMetrics(runId, 3, HOOK_A, { l0: 40 });
    expect(store.latestMetrics(runId)).toEqual([
      { scope: '', key: 'loss', step: 20, value: 1 },
      { scope: '', key: 'lr', step: 0, value: 0.001 },
      { scope: HOOK_A, key: 'l0', step: 7, value: 11 },
    ]);
    const other = store.createRun({ kind: 'sae' }).id;
    expect(store.latestMetrics(other)).toEqual([]);
  });
});
