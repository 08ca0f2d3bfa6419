/** Second thread of data-parallel LM training: gradients of the loss on its half of each batch. */
import * as tf from '@tensorflow/tfjs';
import { parentPort, workerData } from 'node:worker_threads';
import type { GptConfig } from '../../../src-shared/lm.ts';
import { initBackend, readScalar } from '../backend.ts';
import { loadFlatParams, lossAndGradients, packFlatGradients } from './dataParallel.ts';
import { Gpt } from './gpt.ts';

const init = (workerData as { init: { config: GptConfig; backend: string } }).init;
await initBackend(init.backend);
const gpt = Gpt.init(init.config, 0); // parameters are overwritten before every step

// Requests come one at a time (the trainer awaits each reply before the next step).
parentPort!.on(
  'message',
  async (m: {
    id: number;
    params: Float32Array;
    inputs: Int32Array;
    targets: Int32Array;
    batchSize: number;
    contextLength: number;
  }) => {
    try {
      loadFlatParams(gpt, m.params);
      const r = lossAndGradients(gpt, { ...m, starts: new Int32Array(m.batchSize) });
      const loss = await readScalar(r.loss);
      const flat = await packFlatGradients(gpt, r.grads);
      tf.dispose(Object.values(r.grads));
      parentPort!.postMessage({ id: m.id, loss, grads: flat }, [flat.buffer as ArrayBuffer]);
    } catch (err) {
      parentPort!.postMessage({ id: m.id, error: (err as Error).message });
    }
  },
);
parentPort!.postMessage({ ready: true });
