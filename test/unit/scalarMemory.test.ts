/**
 * No tensor leaks across SCALAR's repeated passes. Regression: Gpt.run used to tf.keep captured hook values,
 * so PairModel.segment and the ablation's unit evaluation leaked their captures every call (the quick pipeline
 * ran out of wasm memory on a tblock staircase).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src-main/engine/backend.ts';
import { SubcircuitEvaluator } from '../../src-main/engine/scalar/ablation.ts';
import { PairPool } from '../../src-main/engine/scalar/pairPool.ts';
import { randomRanking } from '../../src-main/engine/scalar/ranking.ts';
import { randomPair, randomTokens } from './scalar.helpers.ts';

beforeAll(async () => {
  await initBackend();
});

describe('SCALAR memory', () => {
  for (const setup of ['tblock', 'ffblock', 'fflayer'] as const) {
    it(`segment passes and subcircuit budgets leave no tensors behind (${setup})`, async () => {
      const { pm } = randomPair({ setup, norm2: 'layernorm', seed: 11 });
      const tokens = randomTokens(3, 2, 6);
      const clean = pm.clean(tokens);
      const before = tf.memory().numTensors;
      for (let r = 0; r < 3; r++) tf.dispose(pm.segment(clean.up));
      expect(tf.memory().numTensors).toBe(before);
      const pool = await PairPool.start(pm, false);
      const ev = await SubcircuitEvaluator.create(pm, clean, pool);
      const ranking = randomRanking(pm.f0 * pm.f1, 5);
      for (const n of [1, 7, 40, pm.f0 * pm.f1]) (await ev.logits(ranking, n, { relu: false })).dispose();
      tf.dispose(await pm.fullCircuitLogits(clean));
      await pool.close();
      pm.dispose(); // the pair's latent tables live until the pair is released
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
