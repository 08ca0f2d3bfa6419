/**
 * Producer thread of an ActivationStream: its own compute backend and copy of the frozen LM; answers each
 * request (token batch) with the clean activations at the requested hooks, as transferred buffers.
 */
import * as tf from '@tensorflow/tfjs';
import { parentPort, workerData } from 'node:worker_threads';
import type { GptConfig } from '../../../src-shared/lm.ts';
import { initBackend } from '../backend.ts';
import { Gpt } from '../lm/gpt.ts';
import { lmActivations } from './lmActivations.ts';

interface Init {
  config: GptConfig;
  params: Record<string, { shape: number[]; data: Float32Array }>;
  hooks: string[];
  backend: string;
}

const init = (workerData as { init: Init }).init;
await initBackend(init.backend);
const lm = Gpt.fromTensors(
  init.config,
  Object.fromEntries(Object.entries(init.params).map(([n, p]) => [n, tf.tensor(p.data, p.shape)])),
);

parentPort!.on(
  'message',
  async (req: { id: number; inputs: Int32Array; batchSize: number; contextLength: number }) => {
    try {
      const acts = lmActivations(
        lm,
        { ...req, targets: req.inputs, starts: new Int32Array(req.batchSize) },
        init.hooks,
      );
      const out: Record<string, Float32Array> = {};
      for (const [hook, t] of Object.entries(acts)) out[hook] = (await t.data()) as Float32Array;
      tf.dispose(Object.values(acts));
      parentPort!.postMessage(
        { id: req.id, acts: out },
        Object.values(out).map((a) => a.buffer as ArrayBuffer),
      );
    } catch (err) {
      parentPort!.postMessage({ id: req.id, error: (err as Error).message });
    }
  },
);
parentPort!.postMessage({ ready: true });
