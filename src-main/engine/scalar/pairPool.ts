/**
 * Both cores for one SCALAR pair: the calling thread and a PairWorker thread take alternate tasks. Each task's
 * arithmetic is the same wherever it runs, so results do not depend on the split.
 */
import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { GptConfig } from '../../../src-shared/lm.ts';
import { backendReport, singleCoreBackend } from '../backend.ts';
import type { SaePair } from '../sae/positions.ts';
import { siblingEntry, spawnWorker } from '../threads.ts';
import type { PairModel, PairSae } from './pair.ts';
import { runPairTask, type PairTask } from './pairTasks.ts';

interface SaeInit {
  wEnc: Float32Array;
  bEnc: Float32Array;
  wDec: Float32Array;
  bDec: Float32Array;
  width: number;
  k: number;
  /** ReLU / JumpReLU SAEs: θ [F]; null for TopK. */
  threshold: Float32Array | null;
}

export interface PairWorkerInit {
  backend: string;
  lm: { config: GptConfig; params: Record<string, { shape: number[]; data: Float32Array }> };
  pair: SaePair;
  up: SaeInit;
  down: SaeInit;
}

const saeInit = async (s: PairSae): Promise<SaeInit> => ({
  wEnc: (await s.w.wEnc.data()) as Float32Array,
  bEnc: (await s.w.bEnc.data()) as Float32Array,
  wDec: (await s.w.wDec.data()) as Float32Array,
  bDec: (await s.w.bDec.data()) as Float32Array,
  width: s.w.wDec.shape[0],
  k: s.k,
  threshold: s.w.threshold ? ((await s.w.threshold.data()) as Float32Array) : null,
});

export class PairPool {
  private nextId = 0;
  private readonly waiting = new Map<
    number,
    { resolve: (a: Float32Array) => void; reject: (e: Error) => void }
  >();

  private constructor(
    private readonly pm: PairModel,
    private readonly worker: Worker | null,
  ) {
    worker?.on('message', (m: { id: number; out?: Float32Array; error?: string }) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.error) w.reject(new Error(`pair worker: ${m.error}`));
      else w.resolve(m.out!);
    });
    worker?.on('error', (err) => this.failAll(err));
  }

  /** A pool with a worker thread when a second core exists and the backend is single-threaded. */
  static async start(
    pm: PairModel,
    parallel = singleCoreBackend() && os.availableParallelism() > 1,
  ): Promise<PairPool> {
    if (!parallel) return new PairPool(pm, null);
    const init: PairWorkerInit = {
      backend: backendReport().name,
      lm: {
        config: pm.lm.config,
        params: Object.fromEntries(
          await Promise.all(
            Object.entries(pm.lm.params).map(async ([n, v]) => [
              n,
              { shape: v.shape, data: (await v.data()) as Float32Array },
            ]),
          ),
        ),
      },
      pair: pm.pair,
      up: await saeInit(pm.up),
      down: await saeInit(pm.down),
    };
    const worker = spawnWorker(siblingEntry(import.meta.url, 'pairWorker'), init);
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: { ready?: boolean }) => m.ready && (worker.off('message', onMessage), resolve());
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
    return new PairPool(pm, worker);
  }

  get threads(): number {
    return this.worker ? 2 : 1;
  }

  private remote(task: PairTask): Promise<Float32Array> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker!.postMessage({ id, task });
    });
  }

  /** Runs `tasks` (results in order): even ones on this thread, odd ones on the worker. */
  async map(tasks: PairTask[]): Promise<Float32Array[]> {
    const out: Float32Array[] = new Array(tasks.length);
    for (let i = 0; i < tasks.length; i += 2) {
      const far = this.worker && i + 1 < tasks.length ? this.remote(tasks[i + 1]) : null;
      out[i] = await runPairTask(this.pm, tasks[i]);
      if (far) out[i + 1] = await far;
      else if (i + 1 < tasks.length) out[i + 1] = await runPairTask(this.pm, tasks[i + 1]);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
  }

  private failAll(err: Error): void {
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }
}
