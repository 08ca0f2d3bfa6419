/** Messages between the JobManager (main thread) and a job's worker thread. */
import type { JobProgress, JobSpec } from '../../src-shared/jobs.ts';
import type { SaeStructure } from '../../src-shared/sae.ts';
import type { LatentRowsBatch } from '../../src-shared/latents.ts';
import type { BackendReport } from '../engine/backend.ts';

export interface WorkerInit {
  runId: string;
  spec: JobSpec;
  /** The run's artifact folder: checkpoints and outputs go here, relative paths are reported back. */
  runDir: string;
  /** The job's language model folder, resolved from its config's `lm` reference. */
  lmPath?: string;
  /** SCALAR jobs: the measured SAE run's folder and what its SAEs are. */
  saeRun?: { dir: string; config: SaeStructure };
  /** Forced backend (SCALAR_BACKEND semantics), if any. */
  backend?: string;
  /** Shared flag: set to 1 by the main thread to cancel, read by the worker between steps. */
  cancelFlag: SharedArrayBuffer;
}

export type WorkerMessage =
  | { type: 'started'; backend: BackendReport }
  | { type: 'progress'; progress: JobProgress }
  | { type: 'metrics'; step: number; scope: string; values: Record<string, number> }
  | { type: 'artifact'; kind: string; name: string; meta?: Record<string, unknown> }
  | {
      type: 'curve';
      pair: string;
      target: string;
      points: { n: number; mean: number; lo: number; hi: number }[];
    }
  | { type: 'edges'; pair: string; i: Int32Array; j: Int32Array; score: Float32Array }
  | { type: 'latents'; rows: LatentRowsBatch }
  | { type: 'log'; message: string }
  | { type: 'done'; summary: Record<string, unknown> }
  | { type: 'failed'; error: string; errorName: string; cancelled: boolean };
