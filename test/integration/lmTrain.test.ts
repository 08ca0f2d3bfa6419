/**
 * Training the toy GPT in-process (SPEC §1.2): the quick preset learns a small English text file, the checkpoint
 * files are written in the documented layout and reproduce the reported validation loss, a cancelled run resumes
 * onto the uninterrupted trajectory, and a diverging run stops with TrainingDivergedError naming the step.
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import { loadLmModel } from '../../src-main/engine/io/lmCheckpoint.ts';
import { readSafetensorsFile } from '../../src-main/engine/io/safetensors.ts';
import { Gpt } from '../../src-main/engine/lm/gpt.ts';
import {
  CancelledError,
  evaluateLoss,
  trainLm,
  TrainingDivergedError,
  type LmEvalPoint,
  type LmTrainResult,
} from '../../src-main/engine/lm/train.ts';
import { asciiTokenizer, evalBatches, loadCorpus, prepareSplits } from '../../src-main/engine/text/index.ts';
import { LM_PRESETS, LmTrainConfigSchema, type LmTrainConfig } from '../../src-shared/lm.ts';

/** About 1.5 KB of plain English, repeated three times: ~4.6 KB, so the 10 % validation split holds ~460 chars. */
const PARAGRAPHS = `The harbour was quiet in the early morning, and the fishing boats rocked gently against the old stone wall.
A few gulls circled above the masts, calling to one another as the first light touched the water. On the quay,
an old man was mending a net with slow and careful hands, while his grandson sat beside him and asked questions
about the sea. Where do the fish go in winter? Why does the tide come in twice a day? How far can a boat sail
before it reaches another country? The old man answered each question patiently, sometimes with a story and
sometimes with a shrug, because there are things that even the oldest sailors do not know.
By the time the sun had risen over the hills, the market had opened and the smell of bread and coffee drifted
down the narrow streets. Women carried baskets of vegetables, children ran between the stalls, and a dog slept
in the shade of a cart full of apples. The baker called out the price of his loaves, and the fishmonger laid
out the night's catch on a bed of ice: silver herring, a few heavy cod, and a basket of small crabs that were
still trying to climb out. It was an ordinary day in a small town by the sea, and nobody expected anything to
happen, which is of course exactly when things do.
`;
const TEXT = PARAGRAPHS.repeat(3);

let tmp: string;
let corpusFile: string;

beforeAll(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-lmtrain-'));
  corpusFile = path.join(tmp, 'harbour.txt');
  fs.writeFileSync(corpusFile, TEXT);
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function quickConfig(overrides: Partial<LmTrainConfig['schedule']> = {}, seed = 3): LmTrainConfig {
  return LmTrainConfigSchema.parse({
    preset: 'quick',
    model: LM_PRESETS.quick.model,
    schedule: { ...LM_PRESETS.quick.schedule, steps: 60, warmupSteps: 6, evalEvery: 20, ...overrides },
    corpus: corpusFile,
    seed,
  });
}

/** The fixed validation windows, rebuilt from the corpus as SPEC §1.2 describes (last 10 %, evenly spaced windows). */
function evalSetFor(config: LmTrainConfig) {
  const s = config.schedule;
  const splits = prepareSplits(asciiTokenizer.encode(loadCorpus(config.corpus).text), s.seqLen, {
    trainFraction: config.trainFraction,
  });
  return evalBatches(splits.val, s.evalBatches, s.batchSize, s.seqLen);
}

describe('trainLm on a small text file (quick preset, 60 steps)', () => {
  const config = () => quickConfig();
  let outDir: string;
  let result: LmTrainResult;
  const evals: LmEvalPoint[] = [];

  beforeAll(async () => {
    outDir = path.join(tmp, 'run-a');
    result = await trainLm({ config: config(), outDir, onEval: (e) => evals.push(e) });
  });

  it('validation loss starts at ≈ ln 128, decreases at every evaluation and ends well below ln 128', async () => {
    // At init the logits are ~N(0, 0.1²), so the predicted distribution is close to uniform over 128 characters.
    const init = Gpt.init(config().model, config().seed);
    const initial = await evaluateLoss(init, evalSetFor(config()));
    init.dispose();
    expect(Math.abs(initial - Math.log(128))).toBeLessThan(0.05);
    expect(evals.map((e) => e.step)).toEqual([20, 40, 60]);
    const losses = evals.map((e) => e.valLoss);
    expect(losses[0]).toBeLessThan(initial);
    for (let i = 1; i < losses.length; i++) expect(losses[i]).toBeLessThan(losses[i - 1]);
    // The text uses ~50 distinct characters (ln 50 = 3.9); 60 steps on a repeated text get well below that.
    expect(losses[2]).toBeLessThan(Math.log(128) - 1);
    expect(evals.every((e) => Number.isFinite(e.trainLoss) && e.trainLoss < Math.log(128))).toBe(true);
  });

  it('reports the run consistently with its evaluations', () => {
    const losses = evals.map((e) => e.valLoss);
    const best = Math.min(...losses);
    expect(result.steps).toBe(60);
    expect(result.params).toBe(31_616); // counted by hand in gpt.test.ts
    expect(result.valLoss).toBe(best);
    expect(result.bestStep).toBe(evals[losses.indexOf(best)].step);
    // The final model is the step-60 model, evaluated on the same fixed windows.
    expect(result.finalValLoss).toBe(losses[2]);
    expect(result.resumedFrom).toBe(0);
    expect(result.corpus.chars).toBe(TEXT.length);
    expect(result.corpus.sha256).toBe(createHash('sha256').update(TEXT).digest('hex'));
    expect(result.checkpoint).toBe(path.join(outDir, 'best'));
    expect(evals.filter((e) => e.isBest).map((e) => e.step)).toEqual([20, 40, 60]);
    // lr at step 20: warmup 6, cosine from 3e-3 to 1e-4 over steps 6..60 (fraction 14/54)
    expect(evals[0].lr).toBeCloseTo(1e-4 + 0.5 * (1 + Math.cos((Math.PI * 14) / 54)) * (3e-3 - 1e-4), 12);
  });

  it('writes best/model.safetensors + config.json (HF GPT-2 naming) and state.safetensors', () => {
    const best = path.join(outDir, 'best');
    expect(fs.existsSync(path.join(best, 'model.safetensors'))).toBe(true);
    const cfg = JSON.parse(fs.readFileSync(path.join(best, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({
      model_type: 'gpt2',
      vocab_size: 128,
      n_positions: 64,
      n_embd: 32,
      n_layer: 2,
      n_head: 2,
      n_inner: 128,
      layer_norm_epsilon: 1e-5,
      activation_function: 'gelu_new',
    });
    const model = readSafetensorsFile(path.join(best, 'model.safetensors'));
    expect(model.tensors['wte.weight'].shape).toEqual([128, 32]);
    expect(model.tensors['h.1.attn.c_attn.weight'].shape).toEqual([32, 96]);
    expect(model.tensors['h.0.mlp.c_proj.weight'].shape).toEqual([128, 32]);
    expect(Object.keys(model.tensors)).toHaveLength(2 + 2 * 12 + 2);
    expect(Object.values(model.tensors).every((t) => t.dtype === 'F32')).toBe(true);
    const state = readSafetensorsFile(path.join(outDir, 'state.safetensors'));
    expect(JSON.parse(state.metadata.state).step).toBe(60);
    // parameters + two AdamW moments per parameter
    expect(Object.keys(state.tensors)).toHaveLength(3 * 28);
  });

  it('loadLmModel(best) reproduces the reported validation loss exactly', async () => {
    const loaded = loadLmModel(path.join(outDir, 'best'));
    try {
      expect(loaded.numParams()).toBe(31_616);
      expect(await evaluateLoss(loaded, evalSetFor(config()))).toBe(result.valLoss);
    } finally {
      loaded.dispose();
    }
  });

  it('a run cancelled between evaluations resumes onto exactly the uninterrupted trajectory', async () => {
    const dir = path.join(tmp, 'run-b');
    const tensorsBefore = tf.memory().numTensors;
    let stopAfter = 30; // not an evaluation step: the saved state is mid-interval
    const first: LmEvalPoint[] = [];
    const signal = { aborted: false } as AbortSignal & { aborted: boolean };
    await expect(
      trainLm({
        config: config(),
        outDir: dir,
        signal,
        onEval: (e) => first.push(e),
        onProgress: (p) => {
          if (p.step === stopAfter) (signal as { aborted: boolean }).aborted = true;
        },
      }),
    ).rejects.toThrow(CancelledError);
    stopAfter = -1;
    expect(first.map((e) => e.step)).toEqual([20]);
    expect(JSON.parse(readSafetensorsFile(path.join(dir, 'state.safetensors')).metadata.state).step).toBe(30);

    const rest: LmEvalPoint[] = [];
    const resumed = await trainLm({ config: config(), outDir: dir, onEval: (e) => rest.push(e) });
    expect(resumed.resumedFrom).toBe(30);
    // Batches are a function of (seed, step) and the state holds parameters + moments: bit-identical results.
    expect(resumed.trainLoss).toBe(result.trainLoss);
    expect(resumed.valLoss).toBe(result.valLoss);
    expect(resumed.bestStep).toBe(result.bestStep);
    expect(resumed.finalValLoss).toBe(result.finalValLoss);
    expect([...first, ...rest].map((e) => e.valLoss)).toEqual(evals.map((e) => e.valLoss));
    // The logged training loss of an evaluation interval is the mean over that whole interval (steps 21..40),
    // also when the interval was split by the cancellation.
    expect([...first, ...rest].map((e) => e.trainLoss)).toEqual(evals.map((e) => e.trainLoss));
    // Neither the cancelled run nor the resumed one (which loads parameters and moments) leaks tensors.
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });
});

describe('guards', () => {
  it('an absurd learning rate makes the loss non-finite: TrainingDivergedError names the step, the last state is kept', async () => {
    // lr 1e6 with no warmup: Adam moves every weight by ~1e6 per step, the activations overflow float32 within a
    // few steps and the loss becomes NaN. Evaluating every step saves a state at each good step.
    const dir = path.join(tmp, 'run-diverge');
    const config = quickConfig({ steps: 20, warmupSteps: 0, evalEvery: 1, lr: 1e6 });
    let error: unknown;
    try {
      await trainLm({ config, outDir: dir });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TrainingDivergedError);
    const message = (error as Error).message;
    const m = /training loss became (NaN|-?Infinity) at step (\d+)/.exec(message);
    expect(m, message).not.toBeNull();
    const step = Number(m![2]);
    expect(step).toBeGreaterThan(1);
    expect(step).toBeLessThan(20);
    // No update was applied with the non-finite loss and no state was written for that step.
    expect(JSON.parse(readSafetensorsFile(path.join(dir, 'state.safetensors')).metadata.state).step).toBe(
      step - 1,
    );
  });

  it('a sequence length beyond the model context is refused before training', async () => {
    // The shared schema refuses it, so the CLI, the Api and the forms never get further ...
    expect(() => quickConfig({ seqLen: 65 })).toThrow(/must be ≤ the model's context length 64 \(got 65\)/);
    // ... and the trainer itself refuses a config that skipped the schema.
    const valid = quickConfig();
    const config = { ...valid, schedule: { ...valid.schedule, seqLen: 65 } };
    await expect(trainLm({ config, outDir: path.join(tmp, 'run-long') })).rejects.toThrow(
      /seqLen 65 exceeds the model context 64/,
    );
  });

  it('leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    await trainLm({
      config: quickConfig({ steps: 4, evalEvery: 2, evalBatches: 1 }),
      outDir: path.join(tmp, 'run-mem'),
    });
    expect(tf.memory().numTensors).toBe(before);
  });
});
