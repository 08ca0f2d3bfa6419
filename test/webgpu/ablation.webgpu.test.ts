/**
 * SCALAR's ablation pass on a real WebGPU adapter (SwiftShader in CI), on a tiny fflayer pair (per-token units)
 * and a tiny tblock pair (per-sequence units):
 * - per-token KL and the curve (mean with bootstrap CI) at several budgets, with and without the ReLU, equal
 *   the plain grouped algorithm (plain.ts: one segment pass per distinct kept set) run on the cpu backend of
 *   the same process on the same pair; at N = F₀·F₁ the subcircuit is the full circuit;
 * - the device pass equals the host-assembling SubcircuitEvaluator on the same backend bit for bit, and a
 *   second run is bit-identical; in batches of 2 tokens (many scatters into R) it still equals the plain one;
 * - the pass reads nothing back: every host read goes through the backend's read/readSync, counted here
 *   (the counter sees the one read of perTokenKl, so it does observe reads).
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { SubcircuitEvaluator } from '../../src-main/engine/scalar/ablation.ts';
import { ablationOnDevice, DeviceSubcircuitEvaluator } from '../../src-main/engine/scalar/ablationDevice.ts';
import { bootstrapMean } from '../../src-main/engine/scalar/curve.ts';
import { perTokenKl } from '../../src-main/engine/scalar/pair.ts';
import { PairPool } from '../../src-main/engine/scalar/pairPool.ts';
import { subcircuitLogitsPlain } from '../../src-main/engine/scalar/plain.ts';
import { randomRanking } from '../../src-main/engine/scalar/ranking.ts';
import { takeGpuErrors } from '../../src-main/engine/webgpu/device.ts';
import { expectClose } from '../unit/lm.helpers.ts';
import { randomPair, randomTokens } from '../unit/scalar.helpers.ts';
import { initWebGpu } from './webgpu.helpers.ts';

beforeAll(async () => {
  expect((await initWebGpu()).name).toBe('webgpu');
});

afterEach(() => {
  expect(takeGpuErrors()).toEqual([]);
});

const [B, T] = [3, 6];
const RESAMPLES = 200;

/** Host reads (read + readSync of the active backend) made while `fn` runs. */
async function countReads<R>(fn: () => Promise<R>): Promise<{ value: R; reads: number }> {
  const be = tf.backend() as unknown as Record<'read' | 'readSync', (id: unknown) => unknown>;
  const original = { read: be.read, readSync: be.readSync };
  let reads = 0;
  be.read = (id) => (reads++, original.read.call(be, id));
  be.readSync = (id) => (reads++, original.readSync.call(be, id));
  try {
    return { value: await fn(), reads };
  } finally {
    be.read = original.read;
    be.readSync = original.readSync;
  }
}

it('the ablation assembly kernel is registered for webgpu, and the pass takes the device path there', () => {
  expect(ablationOnDevice()).toBe(true);
});

describe('ablation pass on webgpu = plain algorithm on cpu', () => {
  for (const setup of ['fflayer', 'tblock'] as const) {
    it(`${setup}: per-token KL and curve at N ∈ {1, 7, 30, E/2, E − 1, E}, with and without the ReLU`, async () => {
      const budgets = (E: number) => [1, 7, 30, E / 2, E - 1, E];
      const runs = [false, true];

      // The plain algorithm, on the cpu backend.
      await tf.setBackend('cpu');
      const onCpu = randomPair({ setup });
      const E = onCpu.pm.f0 * onCpu.pm.f1;
      const ranking = randomRanking(E, 3);
      const cleanCpu = onCpu.pm.clean(randomTokens(13, B, T));
      const plain: Float32Array[][] = [];
      for (const relu of runs) {
        const kls: Float32Array[] = [];
        for (const n of budgets(E)) {
          const logits = subcircuitLogitsPlain(onCpu.pm, cleanCpu, ranking, n, { relu });
          kls.push(await perTokenKl(cleanCpu.logits, logits));
          logits.dispose();
        }
        plain.push(kls);
      }
      onCpu.lm.dispose();

      await tf.setBackend('webgpu');
      const { lm, pm } = randomPair({ setup });
      const clean = pm.clean(randomTokens(13, B, T));
      const fullKl = await perTokenKl(clean.logits, await pm.fullCircuitLogits(clean));
      const pool = await PairPool.start(pm, false);
      const units: number[] = [];
      const device = async (relu: boolean, batchTokens?: number) => {
        const ev = await DeviceSubcircuitEvaluator.create(pm, clean, batchTokens);
        const kls: Float32Array[] = [];
        units.length = 0;
        for (const n of budgets(E)) {
          const { value: logits, reads } = await countReads(() => ev.logits(ranking, n, { relu }));
          expect(reads, `N = ${n}: reads during the pass`).toBe(0);
          const kl = await countReads(() => perTokenKl(clean.logits, logits));
          expect(kl.reads, 'the counter sees the KL read').toBe(1);
          kls.push(kl.value);
          units.push(ev.lastUnits);
          logits.dispose();
        }
        ev.dispose();
        return kls;
      };
      try {
        for (const [r, relu] of runs.entries()) {
          const ours = await device(relu);
          const host = await SubcircuitEvaluator.create(pm, clean, pool);
          for (const [g, n] of budgets(E).entries()) {
            const what = `relu ${relu}, N = ${n}`;
            // float32 on two backends: as the float64 check of the plain algorithm (test/unit/scalarAblation).
            expectClose(ours[g], plain[r][g], { atol: 1e-5, rtol: 1e-3 }, `${what}: per-token KL`);
            const a = bootstrapMean(ours[g], RESAMPLES, 7 + g);
            const b = bootstrapMean(plain[r][g], RESAMPLES, 7 + g);
            expectClose(
              [a.mean, a.lo, a.hi],
              [b.mean, b.lo, b.hi],
              { atol: 1e-5, rtol: 1e-3 },
              `${what}: curve`,
            );
            // Same pre-activations as the host-assembling path on this backend, so the same bits.
            const logits = await host.logits(ranking, n, { relu });
            expect(Array.from(await perTokenKl(clean.logits, logits)), what).toEqual(Array.from(ours[g]));
            logits.dispose();
          }
          // Every edge kept: the full circuit (no downstream bias shift, so with or without the ReLU).
          expect(Array.from(ours[ours.length - 1])).toEqual(Array.from(fullKl));
          // The subcircuit really changes with the budget.
          expect(Math.max(...ours[0])).toBeGreaterThan(Math.max(...fullKl) + 1e-4);
          // Deterministic: a second run is bit-identical.
          const again = await device(relu);
          again.forEach((kl, g) => expect(Array.from(kl), `rerun ${g}`).toEqual(Array.from(ours[g])));
          // Units of 2 tokens per segment pass (one sequence for the block): many batches scattered into R.
          const small = await device(relu, 2);
          expect(Math.max(...units), 'units evaluated at some budget').toBeGreaterThan(3);
          expect(units[units.length - 1], 'every edge kept: nothing evaluated').toBe(0);
          small.forEach((kl, g) =>
            expectClose(kl, plain[r][g], { atol: 1e-5, rtol: 1e-3 }, `batches of 2 tokens, N = ${g}`),
          );
        }
      } finally {
        await pool.close();
        lm.dispose();
      }
    });
  }
});
