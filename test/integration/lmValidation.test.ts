/**
 * The LM validation loss of the fixed-v1 protocol (issue 14, item 1), end to end: a short quick-preset run on a
 * small text file reports a validation loss equal to a float64 forward pass (test/unit/lm.helpers.ts refGpt) over
 * every token of the validation split, tiled here from the protocol's description; the number does not change with
 * the chunk (batch) size; the schedule the CLI prints and stores is the one the loop ran (evaluation steps and the
 * learning rate of every step, worked out by hand).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import { loadLmModel } from '../../src-main/engine/io/lmCheckpoint.ts';
import { readSafetensorsFile } from '../../src-main/engine/io/safetensors.ts';
import { trainLm, type LmTrainResult } from '../../src-main/engine/lm/train.ts';
import { validationLoss } from '../../src-main/engine/lm/validation.ts';
import {
  asciiTokenizer,
  lmValidationWindows,
  loadCorpus,
  prepareSplits,
} from '../../src-main/engine/text/index.ts';
import { issuesForCli, lmJobFromOptions } from '../../src-shared/jobBuilders.ts';
import { refGpt, xent64 } from '../unit/lm.helpers.ts';
import { runCli } from './lmCli.helpers.ts';

const TEXT =
  `Rain had fallen all night on the little valley, and by morning the river ran brown and fast under the
bridge. The miller stood at his door and watched it, counting the logs that went by, while his daughter fed the
hens and his son carried water from the well because the river was too muddy to use. Down the road the smith
was already at work; the ring of his hammer came up the hill with the smoke from his chimney. A cart passed with
two barrels of cider and a sleeping dog, and the driver lifted his hat to the miller without a word.
`.repeat(4);

let tmp: string;
let corpus: string;

beforeAll(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-lmval-'));
  corpus = path.join(tmp, 'valley.txt');
  fs.writeFileSync(corpus, TEXT);
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function config(batchSize: number) {
  const b = lmJobFromOptions({
    preset: 'quick',
    corpus,
    steps: 6,
    warmup: 2,
    evalEvery: 3,
    batchSize,
    valTokens: 'all',
    seed: 5,
  });
  if (!b.ok) throw new Error(issuesForCli(b.issues));
  return b.spec.config;
}

describe('fixed-v1 validation loss of a trained toy GPT', () => {
  const evalSteps: number[] = [];
  const lrs: number[] = [];
  let result: LmTrainResult;
  const outDir = () => path.join(tmp, 'run');

  beforeAll(async () => {
    result = await trainLm({
      config: config(8),
      outDir: outDir(),
      parallel: false,
      onEval: (e) => evalSteps.push(e.step),
      onProgress: (p) => lrs.push(p.lr),
    });
  }, 120_000);

  it('equals a float64 forward over every token of the validation split', () => {
    const T = 64; // quick preset window
    const n = TEXT.length - Math.floor(TEXT.length * 0.9); // the last 10 % (ASCII text: one token per char)
    const tokens = asciiTokenizer.encode(TEXT);
    const val = tokens.subarray(tokens.length - n);
    // The protocol in its own words: windows tile the split from its start; the remainder is scored from one more
    // window ending at the split's end, counting only the targets not scored yet.
    const file = readSafetensorsFile(path.join(outDir(), 'best', 'model.safetensors'));
    const p64 = Object.fromEntries(
      Object.entries(file.tensors).map(([k, t]) => [k, Float64Array.from(t.data as Float32Array)]),
    );
    const model = config(8).model;
    let total = 0;
    let count = 0;
    for (let s = 0; s + T + 1 <= n; s += T) {
      const { logits } = refGpt(model, p64, val.subarray(s, s + T), 1, T);
      total += T * xent64(logits, model.vocabSize, val.subarray(s + 1, s + T + 1));
      count += T;
    }
    const tail = n - 1 - count;
    expect(tail).toBeGreaterThan(0); // this text leaves a remainder, so the tail window is exercised
    const s = n - 1 - T;
    const { logits } = refGpt(model, p64, val.subarray(s, s + T), 1, T);
    const V = model.vocabSize;
    total += tail * xent64(logits.subarray((T - tail) * V), V, val.subarray(s + 1 + T - tail, s + T + 1));
    count += tail;
    expect(count).toBe(n - 1);
    expect(result.evaluation).toEqual({
      protocol: 'fixed-v1',
      params: { valTokens: null },
      tokens: n - 1,
      windows: Math.floor((n - 1) / T) + 1,
    });
    // float32 forward vs float64: a few 1e-7 relative on a mean of ~450 terms.
    expect(Math.abs(result.valLoss - total / count)).toBeLessThan(1e-5 * (total / count));
  });

  it('does not change with the batch size the windows are evaluated in', async () => {
    const gpt = loadLmModel(path.join(outDir(), 'best'));
    try {
      const splits = prepareSplits(asciiTokenizer.encode(loadCorpus(corpus).text), 64);
      const windows = lmValidationWindows(splits.val, 64, null);
      for (const chunk of [1, 3, 8, 100]) {
        const v = await validationLoss(gpt, splits.val, windows, chunk);
        expect(v.tokens).toBe(result.evaluation.tokens);
        expect(Math.abs(v.loss - result.valLoss), `chunk ${chunk}`).toBeLessThan(1e-6);
      }
    } finally {
      gpt.dispose();
    }
  });

  it('ran the schedule it stores: evaluations at 3 and 6, warmup 2 then cosine to minLr', () => {
    const { lr, minLr } = config(8).schedule;
    expect(result.schedule).toEqual({
      steps: 6,
      warmupSteps: 2,
      evalEvery: 3,
      lr,
      minLr,
      batchSize: 8,
      seqLen: 64,
    });
    expect(evalSteps).toEqual([3, 6]);
    // Warmup lr·s/2 for s = 1, 2; then minLr + ½(1 + cos(π(s−2)/4))(lr − minLr); minLr at the last step.
    const cosine = (s: number) => minLr + 0.5 * (1 + Math.cos((Math.PI * (s - 2)) / 4)) * (lr - minLr);
    const expected = [lr / 2, lr, cosine(3), cosine(4), cosine(5), minLr];
    expect(lrs).toHaveLength(6);
    lrs.forEach((x, i) => expect(x, `step ${i + 1}`).toBeCloseTo(expected[i], 12));
  });
});

describe('scalar train-lm prints the schedule it stores', () => {
  it('--steps 4 --warmup 1 --eval-every 2: printed before training, equal to the stored record', async () => {
    const dataDir = path.join(tmp, 'data');
    const r = await runCli([
      'train-lm',
      '--preset',
      'quick',
      '--steps',
      '4',
      '--warmup',
      '1',
      '--eval-every',
      '2',
      '--val-tokens',
      '100',
      '--corpus',
      corpus,
      '--data-dir',
      dataDir,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const out = r.json as {
      schedule: Record<string, number>;
      evaluation: { protocol: string; params: Record<string, unknown>; tokens: number };
    };
    const line = r.stderr.split('\n').find((l) => l.startsWith('schedule: '));
    expect(line).toBe(
      'schedule: 4 steps (given); warmup 1 (given); evaluate every 2 (given); lr 0.003 → 1e-4 cosine; ' +
        'batch 16 × 64 tokens; evaluation fixed-v1 (100 validation tokens)',
    );
    expect(out.schedule).toMatchObject({ steps: 4, warmupSteps: 1, evalEvery: 2, lr: 0.003, minLr: 1e-4 });
    // 100 tokens → ⌈100 / 64⌉ = 2 whole windows of the 3 the 215-token split holds.
    expect(out.evaluation).toMatchObject({
      protocol: 'fixed-v1',
      params: { valTokens: 100 },
      tokens: 128,
      windows: 2,
    });
  }, 120_000);
});
