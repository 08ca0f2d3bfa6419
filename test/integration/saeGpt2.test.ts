/**
 * SAEs on a GPT-2-shaped checkpoint written by the test (issue 12 items 4 and 8: the real BPE vocabulary of
 * 50,257, 3 blocks of D 32, context 64) with activations streamed from a text folder (plain text + JSONL) through
 * a bounded buffer: the layer-by-layer activations equal one full pass; training is deterministic under the seed,
 * the producer thread changes nothing, a cancelled run resumes to exactly the uninterrupted run's losses and
 * parameters (buffer and text position saved with the state), the stream wraps into later epochs, the buffer's
 * memory is what was asked; spliced evaluation passes that start at the hook equal passes from the tokens; chosen
 * blocks train only their pairs; a JSAE ffblock pair (LayerNorm) trains on the stream.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SaeTrainConfigSchema, type SaeTrainConfig } from '../../src-shared/sae.ts';
import { initBackend } from '../../src-main/engine/backend.ts';
import { loadLmModel, readLmTokenizer } from '../../src-main/engine/io/lmCheckpoint.ts';
import { readSafetensorsFile } from '../../src-main/engine/io/safetensors.ts';
import { STATE_FILE } from '../../src-main/engine/io/trainingState.ts';
import type { Gpt } from '../../src-main/engine/lm/gpt.ts';
import { CancelledError } from '../../src-main/engine/lm/train.ts';
import { lmActivations } from '../../src-main/engine/sae/lmActivations.ts';
import { evaluateSaeSet, reconstruct } from '../../src-main/engine/sae/metrics.ts';
import { SaeSet } from '../../src-main/engine/sae/saeSet.ts';
import { trainSaes, type SaeTrainResult } from '../../src-main/engine/sae/train.ts';
import { brownDocuments, type Batch, type Tokenizer } from '../../src-main/engine/text/index.ts';
import { softmaxCrossEntropy } from '../../src-main/engine/kernels/ops.ts';
import { gpt2Weights, writeGpt2Folder, type Shape } from '../unit/gpt2.helpers.ts';

const SHAPE: Shape = { V: 50257, T: 64, D: 32, L: 3, H: 2, eps: 1e-5 };
let tmp: string;
let lm: Gpt;
let tokenizer: Tokenizer;
let textDir: string;

beforeAll(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sae-gpt2-'));
  const dir = writeGpt2Folder(path.join(tmp, 'gpt2-tiny'), SHAPE, gpt2Weights(SHAPE, 21));
  lm = loadLmModel(dir);
  tokenizer = readLmTokenizer(dir);
  // A small text set (about 600 tokens): training (768 tokens and the buffer) wraps around it.
  textDir = path.join(tmp, 'texts');
  fs.mkdirSync(path.join(textDir, 'more'), { recursive: true });
  const docs = brownDocuments();
  const first = docs.next().value!.text.slice(0, 1200);
  fs.writeFileSync(path.join(textDir, 'a.txt'), first);
  const lines = Array.from({ length: 4 }, () =>
    JSON.stringify({ text: docs.next().value!.text.slice(0, 300) }),
  );
  fs.writeFileSync(path.join(textDir, 'more', 'b.jsonl'), lines.join('\n') + '\n');
});

afterAll(() => {
  lm.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const config = (over: Record<string, unknown> = {}): SaeTrainConfig =>
  SaeTrainConfigSchema.parse({
    preset: 'test',
    lm: 'gpt2-tiny',
    arch: 'topk',
    setup: 'ffblock',
    width: 48,
    k: 4,
    seed: 3,
    corpus: textDir,
    layers: [0, 2],
    schedule: {
      steps: 12,
      batchSize: 4,
      seqLen: 16,
      gradAccum: 2,
      lr: 3e-3,
      minLr: 3e-4,
      warmupSteps: 2,
      evalEvery: 4,
    },
    evaluation: { protocol: 'fixed-v1', evalTokens: 64 },
    stream: { bufferTokens: 96, forwardWindows: 2 },
    ...over,
  });

interface Run {
  result: SaeTrainResult;
  losses: number[];
  params: Record<string, Float32Array>;
}

async function train(
  name: string,
  c: SaeTrainConfig,
  opts: { pipeline?: boolean; abortAt?: number } = {},
): Promise<Run> {
  const controller = new AbortController();
  const losses: number[] = [];
  const result = await trainSaes({
    config: c,
    lm,
    tokenizer,
    outDir: path.join(tmp, name),
    pipeline: opts.pipeline ?? false,
    signal: controller.signal,
    onProgress: (p) => {
      losses.push(p.loss);
      if (p.step === opts.abortAt) controller.abort();
    },
  });
  const params = Object.fromEntries(
    Object.entries(result.set.params()).map(([k, v]) => [k, Float32Array.from(v.dataSync())]),
  );
  result.set.dispose();
  return { result, losses, params };
}

function expectSameParams(a: Record<string, Float32Array>, b: Record<string, Float32Array>): void {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const name of Object.keys(a))
    expect(Buffer.from(a[name].buffer).equals(Buffer.from(b[name].buffer)), `${name} differs`).toBe(true);
}

describe('GPT-2-shaped checkpoint: activations', () => {
  it('layer-by-layer activations equal one full pass, bit for bit', async () => {
    const T = 24;
    const inputs = Int32Array.from({ length: 2 * T }, (_, i) => (i * 7919) % SHAPE.V);
    const batch: Batch = {
      inputs,
      targets: inputs,
      starts: new Int32Array(2),
      batchSize: 2,
      contextLength: T,
    };
    const hooks = [
      'blocks.0.hook_resid_pre',
      'blocks.1.ln2.hook_normalized',
      'blocks.1.hook_mlp_out',
      'blocks.2.hook_resid_mid',
    ];
    const got = lmActivations(lm, batch, hooks);
    const ref = tf.tidy(() => lm.run({ tokens: tf.tensor2d(inputs, [2, T], 'int32'), capture: hooks }).cache);
    for (const h of hooks) {
      const a = (await got[h].data()) as Float32Array;
      const b = (await ref[h].data()) as Float32Array;
      expect(got[h].shape).toEqual([2 * T, SHAPE.D]);
      expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer)), h).toBe(true);
    }
    tf.dispose([...Object.values(got), ...Object.values(ref)]);
  });
});

describe('GPT-2-shaped checkpoint: streamed SAE training', () => {
  let plain: Run;

  it('trains the chosen blocks only; the loss goes down; the stream wraps into later epochs; the buffer is what was asked', async () => {
    const before = tf.memory().numTensors;
    plain = await train('plain', config());
    const hooks = plain.result.evaluation.saes.map((s) => s.hook);
    expect(hooks).toEqual([
      'blocks.0.hook_resid_mid',
      'blocks.0.hook_resid_post',
      'blocks.2.hook_resid_mid',
      'blocks.2.hook_resid_post',
    ]);
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(plain.losses.slice(-3))).toBeLessThan(mean(plain.losses.slice(0, 3)));
    for (const s of plain.result.evaluation.saes) expect(Number.isFinite(s.explained_variance)).toBe(true);
    const d = plain.result.data;
    expect(d.source).toBe('stream');
    expect(d.buffer_tokens).toBe(96);
    expect(d.buffer_bytes).toBe(96 * 4 * SHAPE.D * 4);
    expect(d.micro_batch_tokens).toBe(32);
    expect(d.grad_accum).toBe(2);
    expect(Number(d.epoch)).toBeGreaterThanOrEqual(1);
    expect(plain.result.protocol).toMatchObject({ protocol: 'fixed-v1', tokens: 64, windows: 4, seqLen: 16 });
    expect(plain.result.schedule.gradAccum).toBe(2);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('is deterministic under the seed, with or without the producer thread', async () => {
    const again = await train('again', config());
    expect(again.losses).toEqual(plain.losses);
    expectSameParams(again.params, plain.params);
    const piped = await train('piped', config(), { pipeline: true });
    expect(piped.result.data).toMatchObject({ source: 'stream' });
    expect(piped.losses).toEqual(plain.losses);
    expectSameParams(piped.params, plain.params);
    expect(piped.result.evaluation).toEqual(plain.result.evaluation);
    const other = await train('other-seed', config({ seed: 4 }));
    expect(other.losses).not.toEqual(plain.losses);
  });

  it('a cancelled run resumes (buffer and text position from its state) to the uninterrupted run, thread or not', async () => {
    for (const [name, pipeline] of [
      ['resumed', false],
      ['resumed-piped', true],
    ] as const) {
      await expect(train(name, config(), { pipeline, abortAt: 7 })).rejects.toBeInstanceOf(CancelledError);
      const saved = readSafetensorsFile(path.join(tmp, name, STATE_FILE));
      const state = JSON.parse(saved.metadata.state);
      expect(state.step).toBe(7);
      expect(state.extra.data.stream).toMatchObject({ epoch: expect.any(Number), piece: expect.any(Number) });
      const bufferRows = saved.tensors['data.buffer.blocks.0.hook_resid_mid'];
      expect(bufferRows.shape[1]).toBe(SHAPE.D);
      expect(bufferRows.shape[0]).toBeLessThanOrEqual(96);
      const resumed = await train(name, config(), { pipeline: !pipeline });
      expect(resumed.result.resumedFrom).toBe(7);
      expect(resumed.losses).toEqual(plain.losses.slice(7));
      expectSameParams(resumed.params, plain.params);
      expect(resumed.result.evaluation).toEqual(plain.result.evaluation);
      expect(resumed.result.fracAlive).toEqual(plain.result.fracAlive);
    }
  });

  it('a run that dies between evaluations resumes from its last checkpointEvery state to the uninterrupted run', async () => {
    const c = config({ schedule: { ...config().schedule, evalEvery: 12, checkpointEvery: 5 } });
    const whole = await train('ckpt-whole', c);
    const dir = path.join(tmp, 'ckpt-died');
    await expect(
      trainSaes({
        config: c,
        lm,
        tokenizer,
        outDir: dir,
        pipeline: false,
        onProgress: (p) => {
          if (p.step === 8) throw new Error('process died');
        },
      }),
    ).rejects.toThrow('process died');
    expect(JSON.parse(readSafetensorsFile(path.join(dir, STATE_FILE)).metadata.state).step).toBe(5);
    const resumed = await train('ckpt-died', c);
    expect(resumed.result.resumedFrom).toBe(5);
    expect(resumed.losses).toEqual(whole.losses.slice(5));
    expectSameParams(resumed.params, whole.params);
    expect(resumed.result.evaluation).toEqual(whole.result.evaluation);
  });

  it('a JSAE ffblock pair (LayerNorm Jacobian) trains on the stream at a chosen block', async () => {
    const run = await train('jsae', config({ arch: 'jsae', layers: [1], lambda: 4 }));
    expect(run.result.evaluation.saes.map((s) => s.hook)).toEqual([
      'blocks.1.hook_resid_mid',
      'blocks.1.hook_resid_post',
    ]);
    expect(run.result.jacobianL1).toBeGreaterThan(0);
    expect(run.losses.every(Number.isFinite)).toBe(true);
  });

  it('refuses a validation set the text set cannot hold, and a buffer smaller than a micro-batch and a refill', async () => {
    await expect(
      train('too-much-val', config({ evaluation: { protocol: 'fixed-v1', evalTokens: 1_000_000 } })),
    ).rejects.toThrow(
      /text set .* holds only \d+ windows of 17 tokens, fewer than the 62500 the validation set takes/,
    );
    expect(() => config({ stream: { bufferTokens: 63, forwardWindows: 2 } })).toThrow(
      /must hold at least one micro-batch \(32 tokens = 2 windows of 16\) plus one refill \(32 tokens = 2 windows\): at least 64 \(got 63\)/,
    );
  });
});

describe('GPT-2-shaped checkpoint: evaluation', () => {
  it('spliced passes that start at the hook equal passes from the tokens (tblock, fflayer, ffblock)', async () => {
    const T = 16;
    const inputs = Int32Array.from({ length: 2 * T }, (_, i) => (i * 104729 + 17) % SHAPE.V);
    const targets = Int32Array.from({ length: 2 * T }, (_, i) => (i * 7 + 3) % SHAPE.V);
    const batch: Batch = { inputs, targets, starts: new Int32Array(2), batchSize: 2, contextLength: T };
    for (const setup of ['tblock', 'fflayer', 'ffblock'] as const) {
      const set = new SaeSet({
        arch: 'topk',
        setup,
        width: 40,
        k: 5,
        dModel: SHAPE.D,
        nLayer: 3,
        seed: 8,
        layers: [1, 2],
      });
      const ev = await evaluateSaeSet(lm, set, [batch]);
      const ce = (patch?: Record<string, (x: tf.Tensor3D) => tf.Tensor3D>) =>
        tf.tidy(() => {
          const logits = lm.run({ tokens: tf.tensor2d(inputs, [2, T], 'int32'), patch }).logits!;
          return softmaxCrossEntropy(
            logits.reshape([-1, SHAPE.V]) as tf.Tensor2D,
            tf.tensor1d(targets, 'int32'),
          ).dataSync()[0];
        });
      const clean = ce();
      expect(ev.clean_ce).toBe(clean);
      for (const [i, v] of set.views.entries()) {
        const spliced = ce({ [v.hook]: (x) => reconstruct(set, v, x) as tf.Tensor3D });
        expect(ev.saes[i].ce_loss_increase, `${setup} ${v.hook}`).toBe(spliced - clean);
      }
      const all = ce(
        Object.fromEntries(
          set.views.map((v) => [v.hook, (x: tf.Tensor3D) => reconstruct(set, v, x) as tf.Tensor3D]),
        ),
      );
      expect(ev.compound_ce_loss_increase, `${setup} compound`).toBe(all - clean);
      set.dispose();
    }
  });
});
