/**
 * Data-parallel LM training over two threads. The wasm backend runs on one core; with a second core, a
 * gradient worker computes the mean gradient of one half of each batch while this thread computes the other
 * half. Their average is exactly the full batch's mean gradient (equal halves), so one AdamW step follows as
 * in single-threaded training. Results depend on the thread count only through float summation order, and a
 * run resumed with the same count reproduces the uninterrupted one.
 */
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import { backendReport, readScalar, singleCoreBackend, tidy } from '../backend.ts';
import { softmaxCrossEntropy } from '../kernels/ops.ts';
import { concatFloat32, siblingEntry, spawnWorker } from '../threads.ts';
import type { Batch } from '../text/index.ts';
import type { Gpt } from './gpt.ts';

/** Mean cross-entropy of a batch and its gradients by parameter name (all tensors owned by the caller). */
export function lossAndGradients(gpt: Gpt, b: Batch): { loss: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const vars = Object.values(gpt.params);
  const keyOf = new Map(Object.entries(gpt.params).map(([k, v]) => [v.name, k]));
  return tidy(() => {
    const { value, grads } = tf.variableGrads(() => {
      const x = tf.tensor2d(b.inputs, [b.batchSize, b.contextLength], 'int32');
      const logits = gpt.forward(x).reshape([-1, gpt.config.vocabSize]) as tf.Tensor2D;
      return softmaxCrossEntropy(logits, tf.tensor1d(b.targets, 'int32'));
    }, vars);
    const named: Record<string, tf.Tensor> = {};
    for (const [varName, g] of Object.entries(grads)) named[keyOf.get(varName)!] = g;
    return { loss: value, grads: named };
  });
}

export async function packFlatParams(gpt: Gpt): Promise<Float32Array> {
  return concatFloat32(
    await Promise.all(Object.values(gpt.params).map((v) => v.data() as Promise<Float32Array>)),
  );
}

export async function packFlatGradients(gpt: Gpt, grads: Record<string, tf.Tensor>): Promise<Float32Array> {
  return concatFloat32(
    await Promise.all(Object.keys(gpt.params).map((n) => grads[n].data() as Promise<Float32Array>)),
  );
}

export function loadFlatParams(gpt: Gpt, flat: Float32Array): void {
  let at = 0;
  for (const v of Object.values(gpt.params)) {
    const part = flat.subarray(at, at + v.size);
    tf.tidy(() => v.assign(tf.tensor(part, v.shape)));
    at += v.size;
  }
}

function unpackGradients(gpt: Gpt, flat: Float32Array): Record<string, tf.Tensor> {
  let at = 0;
  const out: Record<string, tf.Tensor> = {};
  for (const [n, v] of Object.entries(gpt.params)) {
    out[n] = tf.tensor(flat.subarray(at, at + v.size), v.shape);
    at += v.size;
  }
  return out;
}

function half(b: Batch, which: 0 | 1): Batch {
  const h = b.batchSize / 2;
  const from = which * h * b.contextLength;
  const to = from + h * b.contextLength;
  return {
    inputs: b.inputs.slice(from, to),
    targets: b.targets.slice(from, to),
    starts: b.starts.slice(which * h, (which + 1) * h),
    batchSize: h,
    contextLength: b.contextLength,
  };
}

export class GradientSplitter {
  private nextId = 0;
  private readonly waiting = new Map<
    number,
    { resolve: (r: { loss: number; grads: Float32Array }) => void; reject: (e: Error) => void }
  >();

  private constructor(private readonly worker: Worker | null) {
    worker?.on('message', (m: { id: number; loss: number; grads?: Float32Array; error?: string }) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.error) w.reject(new Error(`gradient worker: ${m.error}`));
      else w.resolve({ loss: m.loss, grads: m.grads! });
    });
    worker?.on('error', (err) => {
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    });
  }

  /** With a worker when a second core exists, the backend is single-threaded and batches split evenly. */
  static async start(
    gpt: Gpt,
    batchSize: number,
    parallel = singleCoreBackend() && os.availableParallelism() > 1,
  ): Promise<GradientSplitter> {
    if (!parallel || batchSize % 2 !== 0) return new GradientSplitter(null);
    const worker = spawnWorker(siblingEntry(import.meta.url, 'gradientWorker'), {
      config: gpt.config,
      backend: backendReport().name,
    });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: { ready?: boolean }) => m.ready && (worker.off('message', onMessage), resolve());
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
    return new GradientSplitter(worker);
  }

  get threads(): number {
    return this.worker ? 2 : 1;
  }

  /** Loss and mean gradients of the whole batch (the caller disposes the gradients). */
  async gradients(gpt: Gpt, b: Batch): Promise<{ loss: number; grads: Record<string, tf.Tensor> }> {
    if (!this.worker) {
      const r = lossAndGradients(gpt, b);
      return { loss: await readScalar(r.loss), grads: r.grads };
    }
    const id = this.nextId++;
    const remote = new Promise<{ loss: number; grads: Float32Array }>((resolve, reject) =>
      this.waiting.set(id, { resolve, reject }),
    );
    const other = half(b, 1);
    this.worker.postMessage({ id, params: await packFlatParams(gpt), ...other });
    const mine = lossAndGradients(gpt, half(b, 0));
    const myLoss = await readScalar(mine.loss);
    const theirs = await remote;
    const grads = tidy(() => {
      const far = unpackGradients(gpt, theirs.grads);
      return Object.fromEntries(
        Object.entries(mine.grads).map(([n, g]) => [n, tf.mul(tf.add(g, far[n]), 0.5)]),
      );
    });
    tf.dispose(Object.values(mine.grads));
    return { loss: (myLoss + theirs.loss) / 2, grads };
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
  }
}
