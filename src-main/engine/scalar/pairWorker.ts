/**
 * Second thread of a SCALAR pair computation: its own backend and copy of the LM and the pair's SAEs,
 * answering the two heavy tasks (a batch of subcircuit units, a batch of attribution sequences).
 */
import * as tf from '@tensorflow/tfjs';
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../backend.ts';
import { Gpt } from '../lm/gpt.ts';
import { PairModel } from './pair.ts';
import type { PairWorkerInit } from './pairPool.ts';
import { runPairTask, type PairTask } from './pairTasks.ts';

const init = (workerData as { init: PairWorkerInit }).init;
await initBackend(init.backend);
const lm = Gpt.fromTensors(
  init.lm.config,
  Object.fromEntries(Object.entries(init.lm.params).map(([n, p]) => [n, tf.tensor(p.data, p.shape)])),
);
const sae = (s: PairWorkerInit['up']) => ({
  w: {
    wEnc: tf.tensor2d(s.wEnc, [lm.config.dModel, s.width]),
    bEnc: tf.tensor1d(s.bEnc),
    wDec: tf.tensor2d(s.wDec, [s.width, lm.config.dModel]),
    bDec: tf.tensor1d(s.bDec),
    ...(s.threshold ? { threshold: tf.tensor1d(s.threshold) } : {}),
  },
  k: s.k,
});
const pm = new PairModel(lm, init.pair, sae(init.up), sae(init.down));

// Tasks come one at a time (the pool awaits each reply before sending the next to this worker).
parentPort!.on('message', async ({ id, task }: { id: number; task: PairTask }) => {
  try {
    const out = await runPairTask(pm, task);
    parentPort!.postMessage({ id, out }, [out.buffer as ArrayBuffer]);
  } catch (err) {
    parentPort!.postMessage({ id, error: (err as Error).message });
  }
});
parentPort!.postMessage({ ready: true });
