/**
 * SCALAR on a tiny GPT-2-shaped checkpoint (issue 12 item 5): a Hugging Face folder with GPT-2's vocabulary
 * (50,257) written by gpt2.helpers.ts and loaded as `--lm PATH` loads it, random TopK SAEs at the ffblock hooks,
 * the `gpt2-paper` preset's settings. The sparse path (active edge set, streamed ranking, chunked ablation)
 * gives today's dense results; under a tight `maxMemoryMb` the pair is computed in several evaluation chunks
 * with the same curve and the accounted peak inside the bound; a bound that cannot hold even the weights is
 * refused by name; the run records its memory.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SCALAR_PRESETS, ScalarEvalConfigSchema } from '../../src-shared/scalar.ts';
import { initBackend } from '../../src-main/engine/backend.ts';
import { loadLmModel } from '../../src-main/engine/io/lmCheckpoint.ts';
import type { Gpt } from '../../src-main/engine/lm/gpt.ts';
import { SaeSet } from '../../src-main/engine/sae/saeSet.ts';
import { gridFor } from '../../src-main/engine/scalar/curve.ts';
import { evaluatePair, type PairResult } from '../../src-main/engine/scalar/evaluate.ts';
import type { Batch } from '../../src-main/engine/text/index.ts';
import { gpt2Weights, writeGpt2Folder, type Shape } from './gpt2.helpers.ts';
import { maxRelDiff, TestRng } from './lm.helpers.ts';

const SHAPE: Shape = { V: 50257, T: 16, D: 32, L: 3, H: 4, eps: 1e-5 };
let tmp: string;
let lm: Gpt;
let set: SaeSet;

beforeAll(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-gpt2-'));
  lm = loadLmModel(writeGpt2Folder(path.join(tmp, 'gpt2'), SHAPE, gpt2Weights(SHAPE, 4)));
  set = new SaeSet({
    arch: 'topk',
    setup: 'ffblock',
    width: 64,
    k: 4,
    dModel: SHAPE.D,
    nLayer: SHAPE.L,
    seed: 3,
  });
  const rng = new TestRng(5);
  for (const v of set.views) v.bEnc.assign(tf.tensor(rng.normals(v.width, 0.3)));
});

afterAll(() => {
  set.dispose();
  lm.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function batch(rng: TestRng, B: number): Batch {
  return {
    inputs: rng.ints(B * SHAPE.T, SHAPE.V),
    targets: new Int32Array(B * SHAPE.T),
    starts: new Int32Array(B),
    batchSize: B,
    contextLength: SHAPE.T,
  };
}

const config = (over: Record<string, unknown> = {}) =>
  ScalarEvalConfigSchema.parse({ sae: 'test', ...SCALAR_PRESETS['gpt2-paper'], bootstrap: 20, ...over });

async function run(over: Record<string, unknown>, force?: Parameters<typeof evaluatePair>[0]['force']) {
  const rng = new TestRng(11);
  const c = config(over);
  return evaluatePair({
    lm,
    set,
    pair: set.pairs[1],
    config: c,
    attribution: [batch(rng, c.attributionSeqs)],
    evaluation: [batch(rng, c.evalSeqs)],
    force,
  });
}

const same = (a: PairResult, b: PairResult) => {
  expect(Array.from(b.ranking)).toEqual(Array.from(a.ranking));
  expect(Array.from(b.rankingScores!)).toEqual(Array.from(a.rankingScores!));
  b.perTokenKl.forEach((k, g) =>
    expect(Array.from(k), `budget ${a.grid[g]}`).toEqual(Array.from(a.perTokenKl[g])),
  );
  expect(b.scores.auc_abs).toBe(a.scores.auc_abs);
  expect(b.fullCircuitKl).toBe(a.fullCircuitKl);
};

describe('SCALAR on a GPT-2-shaped checkpoint', () => {
  it('gpt2-paper settings: the sparse path gives the dense path’s ranking, KL and areas', async () => {
    const dense = await run({ maxMemoryMb: 4000 }, { path: 'dense' });
    const sparse = await run({ maxMemoryMb: 4000 }, { path: 'sparse', form: 'quadratic' });
    expect(dense.attribution.path).toBe('dense');
    expect(sparse.attribution).toMatchObject({ path: 'sparse', form: 'quadratic' });
    // Budgets 10⁰ … 10⁶ cut at F₀·F₁ = 4096; pair 1 = blocks.1 resid_mid → resid_post.
    expect(dense.grid).toEqual(gridFor('gpt2-paper', 64, 64));
    expect(dense.grid.at(-1)).toBe(3162);
    expect(sparse.up).toBe('blocks.1.hook_resid_mid');
    // Few latents are active on 3 × 16 tokens: the sparse pass only scored those columns.
    expect(sparse.attribution.activeDown!).toBeLessThan(64);
    same(dense, sparse);
    // The low-rank form (chosen at GPT-2 widths): the same scores up to float32 rounding of its dot products.
    const low = await run({ maxMemoryMb: 4000 }, { path: 'sparse', form: 'low-rank' });
    expect(low.attribution.form).toBe('low-rank');
    expect(maxRelDiff(low.rankingScores!, dense.rankingScores!)).toBeLessThan(1e-5);
  });

  it('a tight bound: several evaluation chunks, the same curve, the accounted peak inside the bound', async () => {
    const roomy = await run({ maxMemoryMb: 4000 }, { path: 'sparse' });
    const tight = await run({ maxMemoryMb: 80 }, { path: 'sparse' });
    expect(roomy.ablation.chunks).toBe(1);
    expect(tight.ablation.chunks).toBeGreaterThan(1);
    expect(tight.memory.bound_mb).toBe(80);
    expect(tight.memory.accounted_peak_mb).toBeLessThanOrEqual(80);
    expect(tight.memory.accounted_peak_mb).toBeGreaterThan(40);
    expect(tight.memory.measured.rss_mb).toBeGreaterThan(0);
    expect(Array.from(tight.ranking)).toEqual(Array.from(roomy.ranking));
    // Chunks change which units share a segment pass, not what a unit computes.
    tight.perTokenKl.forEach((k, g) =>
      expect(maxRelDiff(k, roomy.perTokenKl[g]), `budget ${tight.grid[g]}`).toBeLessThan(1e-5),
    );
  });

  it('a bound that cannot hold the weights is refused by name', async () => {
    await expect(run({ maxMemoryMb: 1 })).rejects.toThrow(
      /model and SAE weights \(\d threads?\) needs [\d.]+ MB but only [\d.]+ MB of the 1 MB bound are left.*raise --max-memory-mb/,
    );
  });
});
