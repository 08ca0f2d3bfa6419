/**
 * The concurrent SAE trainer (SPEC §3.4) on a tiny untrained LM: the loss goes down for TopK and staircase
 * SAEs, the activation worker thread changes nothing (bit-identical parameters with and without it), the best
 * checkpoint of every group lands under best/, an interrupted run resumes to the same parameters, and no
 * tensors leak across steps.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SaeTrainConfigSchema, type SaeArch, type SaeTrainConfig } from '../../src-shared/sae.ts';
import { initBackend } from '../../src-main/engine/backend.ts';
import { readSafetensorsFile } from '../../src-main/engine/io/safetensors.ts';
import { STATE_FILE } from '../../src-main/engine/io/trainingState.ts';
import type { Gpt } from '../../src-main/engine/lm/gpt.ts';
import { CancelledError } from '../../src-main/engine/lm/train.ts';
import { trainSaes, type SaeTrainResult } from '../../src-main/engine/sae/train.ts';
import { BEST_DIR } from '../../src-main/engine/sae/checkpoint.ts';
import { tinyGpt } from '../unit/sae.helpers.ts';

const STEPS = 30;
const EVAL_EVERY = 10;
let lm: Gpt;
let tmp: string;

beforeAll(async () => {
  await initBackend();
  lm = tinyGpt({ dModel: 16, nLayer: 2, contextLength: 16, seed: 6 });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-saetrain-'));
});

afterAll(() => {
  lm.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const config = (arch: SaeArch): SaeTrainConfig =>
  SaeTrainConfigSchema.parse({
    preset: 'test',
    lm: 'tiny',
    arch,
    setup: 'tblock',
    width: 16,
    k: 4,
    seed: 1,
    schedule: {
      steps: STEPS,
      batchSize: 4,
      seqLen: 16,
      lr: 3e-3,
      minLr: 3e-4,
      warmupSteps: 3,
      evalEvery: EVAL_EVERY,
      evalBatches: 1,
    },
  });

interface Run {
  result: SaeTrainResult;
  losses: number[];
  /** tf.memory().numTensors at every step's progress report. */
  tensors: number[];
  /** Every parameter after training (the best checkpoint of each group), keyed by name. */
  params: Record<string, Float32Array>;
  outDir: string;
}

async function train(
  arch: SaeArch,
  name: string,
  opts: { pipeline: boolean; signal?: AbortSignal; abortAt?: number; abort?: () => void },
): Promise<Run> {
  const outDir = path.join(tmp, name);
  const losses: number[] = [];
  const tensors: number[] = [];
  const result = await trainSaes({
    config: config(arch),
    lm,
    outDir,
    pipeline: opts.pipeline,
    signal: opts.signal,
    onProgress: (p) => {
      losses.push(p.loss);
      tensors.push(tf.memory().numTensors);
      if (p.step === opts.abortAt) opts.abort?.();
    },
  });
  const params = Object.fromEntries(
    Object.entries(result.set.params()).map(([k, v]) => [k, Float32Array.from(v.dataSync())]),
  );
  return { result, losses, tensors, params, outDir };
}

const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;

function expectSameParams(a: Record<string, Float32Array>, b: Record<string, Float32Array>): void {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const name of Object.keys(a)) {
    const x = new Uint32Array(a[name].buffer);
    const y = new Uint32Array(b[name].buffer);
    expect(
      x.findIndex((v, i) => v !== y[i]),
      `${name}: first differing element`,
    ).toBe(-1);
  }
}

/** The parameters stored in best/<group>.safetensors equal the returned set's (it reports the best checkpoint). */
function expectBestFiles(run: Run): void {
  const groups = run.result.set.groups;
  expect(fs.readdirSync(path.join(run.outDir, BEST_DIR)).sort()).toEqual(
    groups.map((g) => `${g.name}.safetensors`).sort(),
  );
  for (const g of groups) {
    const saved = readSafetensorsFile(path.join(run.outDir, BEST_DIR, `${g.name}.safetensors`)).tensors;
    for (const [name, t] of Object.entries(saved)) {
      expect(run.params[name], `${g.name}: ${name} is a parameter`).toBeDefined();
      expect(Array.from(t.data as Float32Array)).toEqual(Array.from(run.params[name]));
    }
    // A step at which the group was evaluated.
    const best = run.result.bestSteps[g.name];
    expect(best % EVAL_EVERY === 0 || best === STEPS).toBe(true);
  }
}

describe('TopK SAEs at tblock', () => {
  let run: Run;
  let before: number;

  beforeAll(async () => {
    before = tf.memory().numTensors;
    run = await train('topk', 'topk', { pipeline: false });
  });

  it('train: the loss goes down and every SAE explains some variance', () => {
    expect(run.result.steps).toBe(STEPS);
    expect(run.losses).toHaveLength(STEPS);
    // Summed over the three SAEs; averaged over 5 steps to smooth batch-to-batch variation.
    expect(mean(run.losses.slice(-5))).toBeLessThan(0.7 * mean(run.losses.slice(0, 5)));
    expect(run.result.evaluation.saes.map((s) => s.hook)).toEqual([
      'blocks.0.hook_resid_pre',
      'blocks.1.hook_resid_pre',
      'blocks.1.hook_resid_post',
    ]);
    for (const s of run.result.evaluation.saes) expect(s.explained_variance).toBeGreaterThan(0);
  });

  it('writes the best checkpoint of every group under best/ and the resumable state at the last step', () => {
    expectBestFiles(run);
    const state = readSafetensorsFile(path.join(run.outDir, STATE_FILE));
    expect(JSON.parse(state.metadata.state).step).toBe(STEPS);
  });

  it('leaks no tensors: constant count across steps, and back to the start once the set is disposed', () => {
    // Every step ends with the same live tensors (parameters, optimizer moments, the LM).
    expect(new Set(run.tensors).size, `counts ${run.tensors.join(',')}`).toBe(1);
    run.result.set.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('staircase SAEs at tblock', () => {
  let plain: Run;

  beforeAll(async () => {
    plain = await train('staircase', 'staircase', { pipeline: false });
  });

  afterAll(() => plain.result.set.dispose());

  it('train: the loss goes down; best/staircase.safetensors holds the shared dictionary', () => {
    expect(mean(plain.losses.slice(-5))).toBeLessThan(0.7 * mean(plain.losses.slice(0, 5)));
    expect(plain.result.set.groups.map((g) => g.name)).toEqual(['staircase']);
    expectBestFiles(plain);
    expect(plain.result.evaluation.saes.map((s) => s.l0_per_chunk?.length)).toEqual([1, 2, 3]);
  });

  it('the activation worker (pipeline) gives bit-identical parameters and metrics', async () => {
    const before = tf.memory().numTensors;
    const piped = await train('staircase', 'staircase-pipelined', { pipeline: true });
    expect(piped.result.steps).toBe(STEPS);
    expectSameParams(piped.params, plain.params);
    expect(piped.losses).toEqual(plain.losses);
    expect(piped.result.evaluation).toEqual(plain.result.evaluation);
    expect(piped.result.bestSteps).toEqual(plain.result.bestSteps);
    expect(new Set(piped.tensors).size).toBe(1);
    piped.result.set.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a run cancelled mid-way resumes from its saved state to the same parameters', async () => {
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    // Cancel after step 14: the trainer saves its state at the top of step 15 and throws.
    await expect(
      train('staircase', 'staircase-resumed', {
        pipeline: false,
        signal: controller.signal,
        abortAt: 14,
        abort: () => controller.abort(),
      }),
    ).rejects.toBeInstanceOf(CancelledError);
    expect(tf.memory().numTensors).toBe(before);
    const saved = readSafetensorsFile(path.join(tmp, 'staircase-resumed', STATE_FILE));
    expect(JSON.parse(saved.metadata.state).step).toBe(14);
    const resumed = await train('staircase', 'staircase-resumed', { pipeline: false });
    expect(resumed.result.resumedFrom).toBe(14);
    expect(resumed.losses).toEqual(plain.losses.slice(14));
    expectSameParams(resumed.params, plain.params);
    expect(resumed.result.evaluation).toEqual(plain.result.evaluation);
    expect(resumed.result.fracAlive).toEqual(plain.result.fracAlive);
    resumed.result.set.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
