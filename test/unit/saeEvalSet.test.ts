/**
 * SAE evaluation under the fixed-v1 protocol (issue 14, item 1): the token set is chosen from the budget and the
 * split only, and the figures (mse, explained variance, l0, ΔCE, KL, compound) are the same whether the windows go
 * through in one batch or in batches of 1, 3 or 5 (per-batch means weighted by tokens). The one-batch evaluation
 * is the reference: with a single batch no weighting is involved.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import type { Gpt } from '../../src-main/engine/lm/gpt.ts';
import { saeEvalSet } from '../../src-main/engine/sae/evalSet.ts';
import { evaluateSaeSet, type SetEval } from '../../src-main/engine/sae/metrics.ts';
import { SaeSet } from '../../src-main/engine/sae/saeSet.ts';
import type { TokenSplit } from '../../src-main/engine/text/index.ts';
import { TestRng } from './lm.helpers.ts';
import { tinyGpt } from './sae.helpers.ts';

const D = 8;
const T = 8;
let gpt: Gpt;
let set: SaeSet;
const val: TokenSplit = { name: 'val', tokens: new TestRng(3).ints(500, 128), start: 0 };
const protocol = { evaluation: { protocol: 'fixed-v1' as const, evalTokens: 60 }, evalBatches: 1 };

beforeAll(async () => {
  await initBackend();
  gpt = tinyGpt({ dModel: D, nLayer: 1, contextLength: T, embedStd: 1, seed: 4 });
  set = new SaeSet({ arch: 'topk', setup: 'tblock', width: 2 * D, k: 3, dModel: D, nLayer: 1, seed: 2 });
});

afterAll(() => {
  set.dispose();
  gpt.dispose();
});

const flat = (e: SetEval) => [
  e.clean_ce,
  e.compound_ce_loss_increase,
  e.compound_kl_div,
  ...e.saes.flatMap((s) => [s.mse, s.explained_variance, s.l0, s.ce_loss_increase, s.kl_div]),
];

describe('fixed-v1 SAE evaluation set', () => {
  it('is ⌈60 / 8⌉ = 8 windows whatever the batch size, recorded with the protocol', () => {
    for (const batch of [1, 3, 5, 8]) {
      const s = saeEvalSet(protocol, val, batch, T);
      expect(s.batches.flatMap((b) => Array.from(b.starts))).toEqual(
        // last start 500 − 9 = 491; i·491/7 floored
        [0, 70, 140, 210, 280, 350, 420, 491],
      );
      expect(s.info).toEqual({
        protocol: 'fixed-v1',
        params: { evalTokens: 60 },
        tokens: 64,
        windows: 8,
        seqLen: T,
      });
    }
  });

  it('gives the same metrics in batches of 1, 3 or 5 as in one batch of 8', async () => {
    const reference = flat(await evaluateSaeSet(gpt, set, saeEvalSet(protocol, val, 8, T).batches));
    expect(reference.every(Number.isFinite)).toBe(true);
    expect(Math.abs(reference[1])).toBeGreaterThan(1e-3); // splicing a random SAE in visibly changes the loss
    // ΔCE is a difference of float32 batch means of CE (~5 nats here), so its rounding scales with the clean CE.
    const scale = (i: number) => Math.max(1, Math.abs(reference[i]), reference[0]);
    for (const batch of [1, 3, 5]) {
      const got = flat(await evaluateSaeSet(gpt, set, saeEvalSet(protocol, val, batch, T).batches));
      got.forEach((v, i) =>
        expect(Math.abs(v - reference[i]), `batch ${batch}, figure ${i}`).toBeLessThan(1e-6 * scale(i)),
      );
    }
  });

  it('a legacy config keeps its evalBatches × batchSize windows and says so', () => {
    const s = saeEvalSet({ evalBatches: 2 }, val, 3, T, {
      schedule: { evalBatches: 2, batchSize: 3, seqLen: T },
    });
    expect(s.batches.map((b) => b.batchSize)).toEqual([3, 3]);
    expect(s.info).toMatchObject({ protocol: 'legacy-batches', tokens: 48, windows: 6 });
  });
});
