/**
 * Clean LM activations computed one step ahead on a second thread. The wasm backend runs on one core, so
 * while the trainer updates the SAEs on step s, the producer computes the activations of step s + 1: the
 * frozen forward pass and the SAE update overlap. Results are identical to computing them in-process (same
 * kernels, same inputs).
 */
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import { backendReport, singleCoreBackend } from '../backend.ts';
import type { Gpt } from '../lm/gpt.ts';
import { siblingEntry, spawnWorker } from '../threads.ts';
import type { Batch } from '../text/index.ts';
import { lmActivations } from './lmActivations.ts';

type Reply = { id: number; acts?: Record<string, Float32Array>; error?: string };

export class ActivationStream {
  private nextId = 0;
  private readonly pending = new Map<
    number,
    { resolve: (r: Reply) => void; reject: (e: Error) => void; promise: Promise<Reply> }
  >();
  private failure: Error | null = null;

  private constructor(
    private readonly worker: Worker,
    private readonly dModel: number,
  ) {
    worker.on('message', (m: Reply & { ready?: boolean }) => {
      if (m.ready) return;
      this.pending.get(m.id)?.resolve(m);
    });
    worker.on('error', (err) => this.fail(err));
    worker.on(
      'exit',
      (code) => code !== 0 && this.fail(new Error(`activation worker exited with code ${code}`)),
    );
  }

  static async start(lm: Gpt, hooks: string[]): Promise<ActivationStream> {
    const params = Object.fromEntries(
      await Promise.all(
        Object.entries(lm.params).map(async ([n, v]) => [
          n,
          { shape: v.shape, data: (await v.data()) as Float32Array },
        ]),
      ),
    );
    const worker = spawnWorker(siblingEntry(import.meta.url, 'activationWorker'), {
      config: lm.config,
      params,
      hooks,
      backend: backendReport().name,
    });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: { ready?: boolean }) => m.ready && (worker.off('message', onMessage), resolve());
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
    return new ActivationStream(worker, lm.config.dModel);
  }

  /** Starts computing the activations of `batch`; returns a handle for `take`. */
  request(batch: Batch): number {
    if (this.failure) throw this.failure;
    const id = this.nextId++;
    let resolve!: (r: Reply) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<Reply>((res, rej) => ((resolve = res), (reject = rej)));
    this.pending.set(id, { resolve, reject, promise });
    this.worker.postMessage({
      id,
      inputs: batch.inputs,
      batchSize: batch.batchSize,
      contextLength: batch.contextLength,
    });
    return id;
  }

  /** The activations of a requested batch as [N, D] tensors (owned by the caller). */
  async take(id: number): Promise<Record<string, tf.Tensor2D>> {
    const acts = await this.takeArrays(id);
    return Object.fromEntries(
      Object.entries(acts).map(([h, a]) => [h, tf.tensor2d(a, [a.length / this.dModel, this.dModel])]),
    );
  }

  /** The activations of a requested batch as row-major [N, D] arrays, as the worker sent them. */
  async takeArrays(id: number): Promise<Record<string, Float32Array>> {
    const entry = this.pending.get(id);
    if (!entry) throw new Error(`activation request ${id} was never made`);
    const reply = await entry.promise;
    this.pending.delete(id);
    if (reply.error) throw new Error(`activation worker: ${reply.error}`);
    return reply.acts!;
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private fail(err: Error): void {
    this.failure = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

/**
 * `activations(t)` for steps t = 1, 2, ... of a training loop: with a producer thread, step t + 1 is requested
 * as soon as step t is taken; without one, computed in-process.
 */
export async function activationSource(
  lm: Gpt,
  hooks: string[],
  batchAt: (step: number) => Batch,
  lastStep: number,
  pipeline: boolean,
) {
  const stream = pipeline ? await ActivationStream.start(lm, hooks) : null;
  const inFlight = new Map<number, number>();
  return {
    pipelined: stream !== null,
    async activations(t: number): Promise<Record<string, tf.Tensor2D>> {
      if (!stream) return lmActivations(lm, batchAt(t), hooks);
      if (!inFlight.has(t)) inFlight.set(t, stream.request(batchAt(t)));
      if (t < lastStep && !inFlight.has(t + 1)) inFlight.set(t + 1, stream.request(batchAt(t + 1)));
      const id = inFlight.get(t)!;
      inFlight.delete(t);
      return stream.take(id);
    },
    close: async () => stream?.close(),
  };
}

/** Pipelining pays off when the backend is single-threaded (wasm, cpu) and a second core exists. */
export function pipelineByDefault(): boolean {
  return singleCoreBackend() && os.availableParallelism() > 1;
}
