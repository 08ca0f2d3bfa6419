import { describe, expect, it } from 'vitest';

import { Rng } from '../../src-main/engine/random.ts';
import {
  batchForStep,
  evalBatches,
  minTokensForContext,
  prepareSplits,
  sampleBatch,
  splitTrainVal,
  type Batch,
  type TokenSplit,
} from '../../src-main/engine/text/dataset.ts';
import { CorpusError } from '../../src-main/engine/text/errors.ts';

/** Tokens whose value encodes their position, so a window can be checked against the stream it came from. */
function ramp(n: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}

function expectWindowsInside(batch: Batch, split: TokenSplit, T: number) {
  for (let b = 0; b < batch.batchSize; b++) {
    const start = batch.starts[b];
    expect(start).toBeGreaterThanOrEqual(0);
    expect(start + T).toBeLessThanOrEqual(split.tokens.length - 1);
    for (let t = 0; t < T; t++) {
      expect(batch.inputs[b * T + t]).toBe(split.tokens[start + t]);
      expect(batch.targets[b * T + t]).toBe(split.tokens[start + t + 1]);
    }
  }
}

describe('train/validation split', () => {
  it('is 90/10 and contiguous', () => {
    const tokens = ramp(1000);
    const { train, val } = splitTrainVal(tokens, 0.9);
    expect(train.tokens.length).toBe(900);
    expect(val.tokens.length).toBe(100);
    expect(train.start).toBe(0);
    expect(val.start).toBe(900);
    expect(Array.from(train.tokens)).toEqual(Array.from(tokens.subarray(0, 900)));
    expect(Array.from(val.tokens)).toEqual(Array.from(tokens.subarray(900)));
  });

  it('rounds the train split down to whole tokens', () => {
    expect(splitTrainVal(ramp(1001)).train.tokens.length).toBe(900);
    expect(splitTrainVal(ramp(1115394)).train.tokens.length).toBe(1003854);
  });

  it('knows the smallest corpus that fits a context', () => {
    expect(minTokensForContext(128)).toBe(1281);
    expect(() => prepareSplits(ramp(1281), 128)).not.toThrow();
    expect(() => prepareSplits(ramp(1280), 128)).toThrow(CorpusError);
  });
});

describe('training batches', () => {
  const T = 16;
  const B = 8;
  const { train, val } = splitTrainVal(ramp(5000));

  it('targets are inputs shifted by one and every window lies inside its split', () => {
    const rng = new Rng(7);
    for (let i = 0; i < 20; i++) {
      const batch = sampleBatch(train, B, T, rng);
      expect(batch.inputs.length).toBe(B * T);
      expect(batch.targets.length).toBe(B * T);
      for (let j = 0; j < B * T; j++) expect(batch.targets[j]).toBe(batch.inputs[j] + 1);
      expectWindowsInside(batch, train, T);
    }
    expectWindowsInside(sampleBatch(val, B, T, rng), val, T);
    // The validation split's windows come from its own tokens, never from the training part.
    expect(Math.min(...sampleBatch(val, B, T, rng).inputs)).toBeGreaterThanOrEqual(val.start);
  });

  it('uses every start offset, including the last one that fits', () => {
    const tiny: TokenSplit = { name: 'train', tokens: ramp(T + 3), start: 0 };
    const seen = new Set<number>();
    const rng = new Rng(1);
    for (let i = 0; i < 50; i++) sampleBatch(tiny, 4, T, rng).starts.forEach((s) => seen.add(s));
    expect([...seen].sort()).toEqual([0, 1, 2]);
  });

  it('batchForStep is deterministic per (seed, step) and differs across steps and seeds', () => {
    const a = batchForStep(train, 42, 10, B, T);
    expect(batchForStep(train, 42, 10, B, T)).toEqual(a);
    expect(batchForStep(train, 42, 11, B, T).starts).not.toEqual(a.starts);
    expect(batchForStep(train, 43, 10, B, T).starts).not.toEqual(a.starts);
  });

  it('a run resumed at step s sees the batches of an uninterrupted run', () => {
    const uninterrupted = Array.from({ length: 6 }, (_, step) => batchForStep(train, 5, step, B, T));
    const resumed = [3, 4, 5].map((step) => batchForStep(train, 5, step, B, T));
    expect(resumed).toEqual(uninterrupted.slice(3));
  });

  it('refuses a split shorter than one window', () => {
    const short: TokenSplit = { name: 'val', tokens: ramp(T), start: 0 };
    expect(() => sampleBatch(short, 1, T, new Rng(0))).toThrow(CorpusError);
    expect(() => evalBatches(short, 1, 1, T)).toThrow(/validation split has 16 tokens/);
  });
});

describe('validation batches', () => {
  const T = 16;
  const { val } = splitTrainVal(ramp(20_000)); // 2,000 validation tokens

  it('are identical across calls', () => {
    expect(evalBatches(val, 3, 4, T)).toEqual(evalBatches(val, 3, 4, T));
  });

  it('are evenly spaced, non-overlapping and span the split', () => {
    const batches = evalBatches(val, 3, 4, T);
    expect(batches).toHaveLength(3);
    const starts = batches.flatMap((b) => Array.from(b.starts));
    expect(starts[0]).toBe(0);
    expect(starts[starts.length - 1]).toBe(val.tokens.length - T - 1);
    const gaps = starts.slice(1).map((s, i) => s - starts[i]);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(T + 1);
    expect(Math.max(...gaps) - Math.min(...gaps)).toBeLessThanOrEqual(1);
    for (const batch of batches) expectWindowsInside(batch, val, T);
  });

  it('still works on a split too small for disjoint windows (evenly spaced, overlapping)', () => {
    const small: TokenSplit = { name: 'val', tokens: ramp(40), start: 0 };
    const [batch] = evalBatches(small, 1, 4, T);
    expect(Array.from(batch.starts)).toEqual([0, 7, 15, 23]);
    expectWindowsInside(batch, small, T);
  });
});
