/**
 * One worker thread for the comparer's paired bootstraps, started on first use and kept (starting a thread from
 * sources costs about as much as a comparison). It does not keep the process alive while idle. A worker that
 * dies fails the requests it held and is started again on the next one.
 */
import type { Worker } from 'node:worker_threads';
import type { ScalarComparison } from '../../src-shared/compare/api.ts';
import { siblingEntry, spawnWorker } from '../engine/threads.ts';
import type { RunRecord } from '../store/index.ts';

export interface CompareRequest {
  dataDir: string;
  run: RunRecord;
  base: RunRecord;
  resamples: number;
  seed: number;
}

type Reply = { id: number; result?: ScalarComparison; error?: string };

export class CompareThread {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { resolve: (r: ScalarComparison) => void; reject: (e: Error) => void }
  >();

  compare(req: CompareRequest): Promise<ScalarComparison> {
    const worker = this.started();
    const id = this.nextId++;
    worker.ref();
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, req });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const w = spawnWorker(siblingEntry(import.meta.url, 'compareWorker'), null);
    w.on('message', ({ id, result, error }: Reply) => {
      const p = this.waiting.get(id);
      this.waiting.delete(id);
      if (error !== undefined) p?.reject(new Error(error));
      else p?.resolve(result!);
      if (this.waiting.size === 0) w.unref();
    });
    const fail = (err: Error) => {
      if (this.worker === w) this.worker = null;
      for (const p of this.waiting.values()) p.reject(err);
      this.waiting.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`the comparison thread stopped (exit code ${code})`)));
    this.worker = w;
    return w;
  }
}
