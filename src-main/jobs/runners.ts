/** Runs one job spec inside a worker: wires engine callbacks to worker messages. */
import type { JobSpec } from '../../src-shared/jobs.ts';
import type { BackendReport } from '../engine/backend.ts';
import { trainLm } from '../engine/lm/train.ts';
import type { WorkerMessage } from './protocol.ts';

export interface JobContext {
  runDir: string;
  signal: AbortSignal;
  post: (m: WorkerMessage) => void;
  backend: BackendReport;
}

/** Progress at most every `ms`, plus the final step. */
function throttled(ms: number) {
  let last = 0;
  return (force: boolean) => {
    const now = performance.now();
    if (!force && now - last < ms) return false;
    last = now;
    return true;
  };
}

export async function runJob(spec: JobSpec, ctx: JobContext): Promise<Record<string, unknown>> {
  switch (spec.kind) {
    case 'train-lm':
      return runTrainLm(spec, ctx);
  }
}

async function runTrainLm(spec: Extract<JobSpec, { kind: 'train-lm' }>, ctx: JobContext) {
  const due = throttled(250);
  const result = await trainLm({
    config: spec.config,
    outDir: ctx.runDir,
    signal: ctx.signal,
    onProgress: (p) => {
      if (!due(p.step === p.total)) return;
      ctx.post({
        type: 'progress',
        progress: {
          step: p.step,
          total: p.total,
          stepsPerSecond: p.stepsPerSecond,
          unitsPerSecond: p.unitsPerSecond,
          unit: 'tokens',
          elapsedSeconds: p.elapsedSeconds,
          etaSeconds: Number.isFinite(p.etaSeconds) ? p.etaSeconds : null,
          values: { loss: p.loss, lr: p.lr },
        },
      });
    },
    onEval: (e) => {
      ctx.post({ type: 'metrics', step: e.step, scope: '', values: { train_loss: e.trainLoss, val_loss: e.valLoss, lr: e.lr } });
      if (e.isBest) ctx.post({ type: 'artifact', kind: 'best', name: 'best/model.safetensors', meta: { step: e.step, val_loss: e.valLoss } });
      ctx.post({ type: 'artifact', kind: 'checkpoint', name: 'state.safetensors', meta: { step: e.step } });
    },
  });
  return { ...result };
}
