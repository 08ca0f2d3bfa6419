/**
 * evaluatePair, the whole per-pair SCALAR computation (SPEC §4), against the same steps composed by hand from
 * the plain algorithms: attribution summed over all attribution sequences (several tasks on both threads),
 * ranking, per-token KL at every budget of the grid, bootstrap curve, scores; the `full` grid ending at the
 * full circuit, the `circuit` KL target, and the random ranking.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { ScalarEvalConfigSchema } from '../../src-shared/scalar.ts';
import { initBackend } from '../../src-main/engine/backend.ts';
import { evaluatePair } from '../../src-main/engine/scalar/evaluate.ts';
import { perTokenKl } from '../../src-main/engine/scalar/pair.ts';
import { accumulateAttributionPlain, subcircuitLogitsPlain } from '../../src-main/engine/scalar/plain.ts';
import { randomRanking, rankByScore } from '../../src-main/engine/scalar/ranking.ts';
import type { Batch } from '../../src-main/engine/text/index.ts';
import { maxRelDiff, TestRng } from './lm.helpers.ts';
import { randomPair } from './scalar.helpers.ts';

beforeAll(async () => {
  await initBackend();
});

const T = 6;
function batch(rng: TestRng, B: number): Batch {
  return {
    inputs: rng.ints(B * T, 11),
    targets: new Int32Array(B * T),
    starts: new Int32Array(B),
    batchSize: B,
    contextLength: T,
  };
}

describe('evaluatePair', () => {
  it('IG ranking, full grid, relu: every step equals its plain composition', async () => {
    const { lm, set, pm } = randomPair({ setup: 'ffblock' });
    const rng = new TestRng(77);
    // 20 attribution sequences: two attribution tasks (16 + 4), summed.
    const attribution = [batch(rng, 12), batch(rng, 8)];
    const evaluation = [batch(rng, 3)];
    const config = ScalarEvalConfigSchema.parse({
      sae: 'test',
      steps: 3,
      grid: 'full',
      relu: true,
      bootstrap: 50,
      seed: 4,
    });
    const r = await evaluatePair({ lm, set, pair: pm.pair, config, attribution, evaluation });
    const E = pm.f0 * pm.f1;

    // Attribution over all 20 sequences by the plain algorithm.
    const sumSq = new Float64Array(E);
    for (const b of attribution)
      accumulateAttributionPlain(
        pm,
        pm.clean(tf.tensor2d(b.inputs, [b.batchSize, T], 'int32')),
        { steps: 3, scaling: 'reference' },
        sumSq,
      );
    expect(maxRelDiff(r.edgeScores!, sumSq.map(Math.sqrt))).toBeLessThan(1e-5);
    expect(Array.from(r.ranking)).toEqual(Array.from(rankByScore(r.edgeScores!, 4)));

    // The grid ends at the full circuit; per-token KL at each budget against the plain subcircuit.
    expect(r.grid.at(-1)).toBe(E);
    const clean = pm.clean(tf.tensor2d(evaluation[0].inputs, [3, T], 'int32'));
    for (const [g, n] of r.grid.entries()) {
      const kl = await perTokenKl(
        clean.logits,
        subcircuitLogitsPlain(pm, clean, r.ranking, n, { relu: true }),
      );
      expect(maxRelDiff(r.perTokenKl[g], kl), `N = ${n}`).toBeLessThan(1e-4);
      const mean = r.perTokenKl[g].reduce((a, c) => a + c, 0) / r.perTokenKl[g].length;
      expect(r.curve[g].mean).toBeCloseTo(mean, 9);
      expect(r.curve[g].lo).toBeLessThanOrEqual(mean + 1e-12);
      expect(r.curve[g].hi).toBeGreaterThanOrEqual(mean - 1e-12);
    }
    // With every edge kept (and the ReLU) the curve ends at KL(full model ‖ full circuit).
    const last = r.perTokenKl.at(-1)!;
    expect(last.reduce((a, c) => a + c, 0) / last.length).toBeCloseTo(r.fullCircuitKl, 12);
    // Scores: trapezoid areas of the mean curve, by hand.
    const means = r.curve.map((c) => c.mean);
    let abs = 0;
    let log2 = 0;
    for (let g = 1; g < r.grid.length; g++) {
      abs += ((r.grid[g] - r.grid[g - 1]) * (means[g] + means[g - 1])) / 2;
      log2 += ((Math.log2(r.grid[g]) - Math.log2(r.grid[g - 1])) * (means[g] + means[g - 1])) / 2;
    }
    expect(r.scores.auc_abs).toBeCloseTo(abs, 9);
    expect(r.scores.auc_rel).toBeCloseTo(abs / E, 12);
    expect(r.scores.auc_log2).toBeCloseTo(log2, 9);
    lm.dispose();
  });

  it('target circuit: KL against the full circuit, so the fully kept end of the curve is exactly 0', async () => {
    const { lm, set, pm } = randomPair({ setup: 'tblock' });
    const rng = new TestRng(78);
    const config = ScalarEvalConfigSchema.parse({
      sae: 'test',
      grid: 'full',
      relu: true,
      target: 'circuit',
      bootstrap: 10,
    });
    const evaluation = [batch(rng, 2)];
    const r = await evaluatePair({
      lm,
      set,
      pair: pm.pair,
      config,
      attribution: [batch(rng, 2)],
      evaluation,
    });
    expect(Array.from(r.perTokenKl.at(-1)!).every((v) => v === 0)).toBe(true);
    const clean = pm.clean(tf.tensor2d(evaluation[0].inputs, [2, T], 'int32'));
    const full = await pm.fullCircuitLogits(clean);
    const kl = await perTokenKl(full, subcircuitLogitsPlain(pm, clean, r.ranking, 5, { relu: true }));
    expect(maxRelDiff(r.perTokenKl[r.grid.indexOf(5)], kl)).toBeLessThan(1e-4);
    lm.dispose();
  });

  it('random ranking: no edge scores, the seeded permutation of all edges', async () => {
    const { lm, set, pm } = randomPair({ setup: 'fflayer' });
    const rng = new TestRng(79);
    const config = ScalarEvalConfigSchema.parse({ sae: 'test', ranking: 'random', bootstrap: 10, seed: 9 });
    const r = await evaluatePair({
      lm,
      set,
      pair: pm.pair,
      config,
      attribution: [batch(rng, 2)],
      evaluation: [batch(rng, 2)],
    });
    expect(r.edgeScores).toBeNull();
    expect(Array.from(r.ranking)).toEqual(Array.from(randomRanking(pm.f0 * pm.f1, 9)));
    // The paper grid, cut at F₀·F₁ = 144.
    expect(r.grid).toEqual([1, 2, 4, 5, 7, 11, 16, 22, 32, 45, 63, 90, 127]);
    lm.dispose();
  });
});
