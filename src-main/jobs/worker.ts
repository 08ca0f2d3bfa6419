/**
 * A job's worker thread: initialises its own compute backend (engine off the main thread), runs the job, and
 * reports progress, metrics, artifacts and the outcome to the JobManager.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../engine/backend.ts';
import type { WorkerInit, WorkerMessage } from './protocol.ts';
import { runJob } from './runners.ts';

const { init } = workerData as { init: WorkerInit };
const post = (m: WorkerMessage) => parentPort!.postMessage(m);
const cancelled = new Int32Array(init.cancelFlag);

/** An AbortSignal that trips when the main thread sets the shared cancel flag (checked between steps). */
const signal = {
  get aborted() {
    return Atomics.load(cancelled, 0) === 1;
  },
} as AbortSignal;

try {
  const backend = await initBackend(init.backend);
  post({ type: 'started', backend });
  const summary = await runJob(init.spec, {
    runId: init.runId,
    runDir: init.runDir,
    lmPath: init.lmPath,
    saeRun: init.saeRun,
    signal,
    post,
    backend,
  });
  post({
    type: 'done',
    summary: {
      ...summary,
      backend: backend.name,
      device: backend.device,
      ...(backend.adapter ? { adapter: backend.adapter } : {}),
    },
  });
} catch (err) {
  const e = err instanceof Error ? err : new Error(String(err));
  post({ type: 'failed', error: e.message, errorName: e.name, cancelled: e.name === 'CancelledError' });
}
