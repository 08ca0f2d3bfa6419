/**
 * Data-parallel LM training (two threads, each the mean gradient of half the batch) against single-threaded
 * training: the average of the halves' mean gradients is the full batch's mean gradient, so both trainings
 * agree up to float summation order; a parallel run is deterministic. Also the regression test for the
 * throughput figure, which read 0 when no progress listener was attached.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { LM_PRESETS, LmTrainConfigSchema } from '../../src-shared/lm.ts';
import { initBackend } from '../../src-main/engine/backend.ts';
import { trainLm } from '../../src-main/engine/lm/train.ts';

beforeAll(async () => {
  await initBackend();
});

const p = LM_PRESETS.quick;
const config = LmTrainConfigSchema.parse({
  preset: 'quick',
  model: p.model,
  schedule: { ...p.schedule, steps: 40, evalEvery: 20, batchSize: 8 },
  seed: 3,
});
const run = (parallel: boolean) =>
  trainLm({ config, outDir: fs.mkdtempSync(path.join(os.tmpdir(), 'lm-parallel-')), parallel });

describe('data-parallel LM training', () => {
  it('matches single-threaded training up to float rounding, and is deterministic', async () => {
    const single = await run(false);
    const a = await run(true);
    const b = await run(true);
    expect(single.threads).toBe(1);
    expect(a.threads).toBe(2);
    // Only the order of float sums differs: 40 AdamW steps keep the losses within 1e-4 relative.
    expect(Math.abs(a.valLoss - single.valLoss) / single.valLoss).toBeLessThan(1e-4);
    expect(Math.abs(a.trainLoss - single.trainLoss) / single.trainLoss).toBeLessThan(1e-4);
    expect(b.valLoss).toBe(a.valLoss);
    expect(b.trainLoss).toBe(a.trainLoss);
  });

  it('reports its throughput without a progress listener', async () => {
    const r = await run(false);
    expect(r.tokensPerSecond).toBeGreaterThan(0);
  });
});
