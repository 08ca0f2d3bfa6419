/**
 * The fixed-v1 evaluation protocol (issue 14, item 1): validation token sets worked out by hand, independent of the
 * batch size; the options --warmup / --eval-every / --val-tokens / --eval-tokens through the shared builders (the
 * schedule they produce and describe); legacy configs read as the legacy protocol.
 */
import { describe, expect, it } from 'vitest';

import { evalChunks, lmValidationWindows, spreadWindows } from '../../src-main/engine/text/evalWindows.ts';
import type { TokenSplit } from '../../src-main/engine/text/dataset.ts';
import { cliCommandFor } from '../../src-shared/cliCommand.ts';
import { describeEvalProtocol, evalProtocolOf, withEvalProtocol } from '../../src-shared/evalProtocol.ts';
import {
  issuesForCli,
  lmJobFromOptions,
  saeJobFromOptions,
  scalarJobFromOptions,
} from '../../src-shared/jobBuilders.ts';

const split = (n: number): TokenSplit => ({
  name: 'val',
  tokens: Int32Array.from({ length: n }, (_, i) => i % 97),
  start: 1000,
});

/** How often each target index (1..n-1) of the split is scored by a window set. */
function coverage(n: number, w: ReturnType<typeof lmValidationWindows>): number[] {
  const hits = new Array<number>(n).fill(0);
  w.starts.forEach((s, i) => {
    for (let t = w.scoreFrom[i]; t < w.contextLength; t++) hits[s + t + 1] += 1;
  });
  return hits;
}

describe('LM validation windows', () => {
  it('whole split, 20 tokens, T = 4: four tiles and a tail window scoring its last 3 targets', () => {
    // 19 targets (tokens 1..19): tiles at 0, 4, 8, 12 score targets 1..16; the tail window starts at 19 − 4 = 15
    // (targets 16..19) and scores only 17, 18, 19.
    const w = lmValidationWindows(split(20), 4, null);
    expect(Array.from(w.starts)).toEqual([0, 4, 8, 12, 15]);
    expect(Array.from(w.scoreFrom)).toEqual([0, 0, 0, 0, 1]);
    expect(w.tokens).toBe(19);
    expect(coverage(20, w)).toEqual([0, ...new Array(19).fill(1)]);
  });

  it('whole split that tiles exactly: no tail window', () => {
    const w = lmValidationWindows(split(17), 4, null);
    expect(Array.from(w.starts)).toEqual([0, 4, 8, 12]);
    expect(w.tokens).toBe(16);
  });

  it('a budget takes ⌈budget / T⌉ tiles spread over the split; one that reaches the split is the whole split', () => {
    // 1001 tokens, T = 10: 100 tiles. 35 tokens → 4 tiles: k·100/4 = 0, 25, 50, 75 → starts 0, 250, 500, 750.
    const w = lmValidationWindows(split(1001), 10, 35);
    expect(Array.from(w.starts)).toEqual([0, 250, 500, 750]);
    expect(w.tokens).toBe(40);
    expect(lmValidationWindows(split(1001), 10, 1000)).toEqual(lmValidationWindows(split(1001), 10, null));
    expect(lmValidationWindows(split(1001), 10, 5000).tokens).toBe(1000);
  });

  it('chunking walks the same windows whatever the chunk size', () => {
    const s = split(203);
    const w = lmValidationWindows(s, 8, null);
    const starts = (chunk: number) => [...evalChunks(s, w, chunk)].flatMap((c) => Array.from(c.batch.starts));
    const sizes = [...evalChunks(s, w, 7)].map((c) => c.batch.batchSize);
    expect(starts(1)).toEqual(Array.from(w.starts));
    expect(starts(7)).toEqual(Array.from(w.starts));
    expect(sizes).toEqual([7, 7, 7, 5]); // 25 tiles + 1 tail window = 26
  });

  it('a split shorter than one window is refused, naming the split', () => {
    expect(() => lmValidationWindows(split(4), 4, null)).toThrow(/validation split has 4 tokens/);
  });
});

describe('SAE evaluation windows', () => {
  it('⌈tokens / T⌉ windows from the start to the end of the split', () => {
    // 100 tokens, T = 8: last start 100 − 9 = 91; 20 tokens → 3 windows at 0, 45, 91.
    const w = spreadWindows(split(100), 8, 20);
    expect(Array.from(w.starts)).toEqual([0, 45, 91]);
    expect(w.tokens).toBe(24);
  });
});

describe('schedule options through the shared builders', () => {
  it('--steps alone rescales warmup and interval, and the description says so', () => {
    const b = lmJobFromOptions({ preset: 'quick', steps: 200 });
    if (!b.ok) throw new Error(issuesForCli(b.issues));
    // quick: warmup 60, evalEvery 100; 200 steps → warmup min(60, 20) = 20, interval min(100, 200/10) = 20.
    expect(b.spec.config.schedule).toMatchObject({ steps: 200, warmupSteps: 20, evalEvery: 20 });
    expect(b.schedule).toContain('warmup 20 (min(preset 60, 10 % of --steps))');
    expect(b.schedule).toContain('evaluate every 20 (about 10 evaluations');
    expect(b.spec.config.evaluation).toEqual({ protocol: 'fixed-v1', valTokens: 16384 });
  });

  it('--warmup and --eval-every win over the rescaling; --val-tokens all is the whole split', () => {
    const b = lmJobFromOptions({ preset: 'quick', steps: 200, warmup: 7, evalEvery: 33, valTokens: 'all' });
    if (!b.ok) throw new Error(issuesForCli(b.issues));
    expect(b.spec.config.schedule).toMatchObject({ steps: 200, warmupSteps: 7, evalEvery: 33 });
    expect(b.schedule).toContain('warmup 7 (given)');
    expect(b.schedule).toContain('evaluate every 33 (given)');
    expect(b.schedule).toContain('fixed-v1 (whole validation split)');
    expect(b.spec.config.evaluation).toEqual({ protocol: 'fixed-v1', valTokens: null });
    const paper = lmJobFromOptions({ preset: 'ascii-64x4' });
    expect(paper.ok && paper.spec.config.evaluation).toEqual({ protocol: 'fixed-v1', valTokens: null });
  });

  it('bad values are refused per option', () => {
    const bad = (o: Parameters<typeof lmJobFromOptions>[0]) => {
      const b = lmJobFromOptions(o);
      return b.ok ? 'ok' : issuesForCli(b.issues);
    };
    expect(bad({ preset: 'quick', warmup: -1 })).toBe('option --warmup must be an integer ≥ 0 (got -1)');
    expect(bad({ preset: 'quick', warmup: 1.5 })).toBe('option --warmup must be an integer ≥ 0 (got 1.5)');
    expect(bad({ preset: 'quick', steps: 50, warmup: 51 })).toBe(
      'option --warmup must be ≤ the number of steps, 50 (got 51)',
    );
    expect(bad({ preset: 'quick', valTokens: 0 })).toBe('option --val-tokens must be an integer ≥ 1 (got 0)');
    const sae = saeJobFromOptions({ lm: 'x', arch: 'topk', setup: 'tblock', evalTokens: 2.5 });
    expect(sae.ok ? 'ok' : issuesForCli(sae.issues)).toBe(
      'option --eval-tokens must be an integer ≥ 1 (got 2.5)',
    );
  });

  it('SAE: --eval-tokens and --warmup land in the spec, and the command line carries them', () => {
    const o = { lm: 'x', arch: 'topk', setup: 'tblock', steps: 300, warmup: 10, evalTokens: 4096 };
    const b = saeJobFromOptions(o);
    if (!b.ok) throw new Error(issuesForCli(b.issues));
    expect(b.spec.config.schedule).toMatchObject({ steps: 300, warmupSteps: 10, evalEvery: 50 });
    expect(b.spec.config.evaluation).toEqual({ protocol: 'fixed-v1', evalTokens: 4096 });
    expect(cliCommandFor({ command: 'train-sae', ...o })).toBe(
      'npx scalar train-sae --lm x --arch topk --setup tblock --steps 300 --warmup 10 --eval-tokens 4096',
    );
    expect(cliCommandFor({ command: 'train-lm', preset: 'quick', valTokens: 'all', warmup: 0 })).toBe(
      'npx scalar train-lm --preset quick --warmup 0 --val-tokens all',
    );
  });
});

describe('legacy and new protocols in stored configs', () => {
  it('a config without `evaluation` reads as legacy-batches with its batches', () => {
    const legacy = { preset: 'quick', schedule: { evalBatches: 8, batchSize: 16, seqLen: 128 } };
    const info = evalProtocolOf(legacy);
    expect(info).toEqual({
      protocol: 'legacy-batches',
      params: { evalBatches: 8, batchSize: 16, seqLen: 128 },
    });
    expect(describeEvalProtocol(info)).toBe(
      'legacy-batches (8 batches × 16 windows; depends on the batch size)',
    );
  });

  it('a new submission without `evaluation` gets the current protocol; one with it keeps it', () => {
    const lm = withEvalProtocol({ kind: 'train-lm', config: { preset: 'ascii-64x4' } });
    expect(lm.config).toEqual({
      preset: 'ascii-64x4',
      evaluation: { protocol: 'fixed-v1', valTokens: null },
    });
    const sae = withEvalProtocol({ kind: 'train-sae', config: { preset: 'paper' } });
    expect(sae.config).toMatchObject({ evaluation: { protocol: 'fixed-v1', evalTokens: 131072 } });
    const kept = {
      kind: 'train-lm',
      config: { preset: 'quick', evaluation: { protocol: 'fixed-v1', valTokens: 5 } },
    };
    expect(withEvalProtocol(kept)).toBe(kept);
  });
});

describe('scalar eval --single-step-alpha (issue 14, item 5b)', () => {
  it('defaults to 1, takes 0, refuses anything else, and the command line carries it', () => {
    const run = (singleStepAlpha?: number) => {
      const b = scalarJobFromOptions({ sae: 'x', steps: 1, singleStepAlpha });
      return b.ok ? b.spec.config.singleStepAlpha : issuesForCli(b.issues);
    };
    expect(run()).toBe(1);
    expect(run(0)).toBe(0);
    expect(run(2)).toBe('option --single-step-alpha must be an integer from 0 to 1 (got 2)');
    expect(run(0.5)).toBe('option --single-step-alpha must be an integer from 0 to 1 (got 0.5)');
    expect(cliCommandFor({ command: 'eval', sae: 'x', steps: 1, singleStepAlpha: 0 })).toBe(
      'npx scalar eval --sae x --steps 1 --single-step-alpha 0',
    );
  });
});
