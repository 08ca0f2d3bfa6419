/**
 * The job queue. Each job runs in its own worker thread (the engine never blocks the caller's event loop);
 * the manager turns worker messages into store rows (status, progress, metrics, artifacts) and events.
 * Jobs run one at a time by default: the wasm backend is single-threaded, and two jobs would share two cores.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import { JobSpecSchema, RUN_KIND_OF_JOB, type JobEvent, type JobSpec } from '../../src-shared/jobs.ts';
import { withEvalProtocol } from '../../src-shared/evalProtocol.ts';
import { specIssuesText } from '../../src-shared/jobBuilders.ts';
import {
  removeTempFiles,
  runArtifactsDir,
  sweepLeftovers,
  type InputCheck,
  type RunRecord,
  type Store,
} from '../store/index.ts';
import { InputError } from '../userErrors.ts';
import { isWithoutWeights, withoutWeightsMessage } from '../../src-shared/bundle.ts';
import { preflightJob } from './preflight.ts';
import { recordLatentRows } from '../store/latents.ts';
import { siblingEntry, spawnWorker } from '../engine/threads.ts';
import { withBusyRetry } from './busyRetry.ts';
import { defaultRunName } from './runNames.ts';
import { resolveLmRef, resolveSaeRun } from './lmRef.ts';
import type { WorkerInit, WorkerMessage } from './protocol.ts';

const ENTRY = siblingEntry(import.meta.url, 'worker');

interface ActiveJob {
  worker: Worker;
  cancelFlag: Int32Array;
  settled: boolean;
  /** Messages are handled strictly in order (artifact hashing is async; 'done' must wait for it). */
  inbox: Promise<void>;
}

export interface JobManagerOptions {
  concurrency?: number;
  /**
   * Run every queued run of the store, including those queued before this process started (the app and web
   * mode). A CLI command runs only the jobs it submitted itself.
   */
  adoptQueued?: boolean;
  /** Forced compute backend for every job (else SCALAR_BACKEND / the ladder). */
  backend?: string;
}

export class JobManager {
  readonly events = new EventEmitter();
  private readonly active = new Map<string, ActiveJob>();
  /** Queued runs this manager may start (all queued runs of the store when adopting). */
  private readonly owned = new Set<string>();
  private readonly waiters = new Map<string, ((r: RunRecord) => void)[]>();
  private concurrency: number;
  /** Ids the startup sweep found left 'running' by a dead process (now 'interrupted'). */
  readonly interruptedAtStart: string[];

  constructor(
    private readonly store: Store,
    private readonly options: JobManagerOptions = {},
  ) {
    this.concurrency = options.concurrency ?? 1;
    // Runs a killed process left 'running' become 'interrupted' and can be resumed.
    this.interruptedAtStart = store.markInterruptedRuns();
    // Half-written files, unfinished bundle imports and uploads of processes that are gone.
    sweepLeftovers(store.db, store.dataDir);
    // The queue lives in the store: queued runs stay queued across restarts and start in their stored order.
    if (options.adoptQueued) setImmediate(() => this.pump());
  }

  setConcurrency(n: number): void {
    this.concurrency = Math.max(1, Math.floor(n));
    this.pump();
  }

  /** Runs executing in a worker now. */
  activeIds(): string[] {
    return [...this.active.keys()];
  }

  /** Moves a queued run within the queue (0 = starts next). */
  reorder(runId: string, index: number): void {
    this.store.moveQueuedRun(runId, index);
  }

  onEvent(listener: (e: JobEvent) => void): () => void {
    this.events.on('event', listener);
    return () => this.events.off('event', listener);
  }

  private emit(e: JobEvent): void {
    this.events.emit('event', e);
  }

  /**
   * Validates the spec and every input it names (preflight.ts: files, shapes, values, memory) before anything
   * is written, then records a queued run with its inputs pinned and schedules it. A refusal (InputError) leaves
   * the store as it was.
   */
  submit(spec: JobSpec, meta: { name?: string; parentId?: string | null } = {}): RunRecord {
    const valid = JobSpecSchema.safeParse(spec);
    if (!valid.success) throw new InputError(specIssuesText(valid.error, spec));
    const parsed = withEvalProtocol(valid.data);
    const checked = preflightJob(parsed, this.store, { backend: this.options.backend });
    let parentId = meta.parentId ?? null;
    let archSetup: { arch?: string | null; setup?: string | null } = {};
    if (parsed.kind === 'train-sae' || parsed.kind === 'import-sae') {
      resolveLmRef(parsed.config.lm, this.store); // fail before queueing
      // An SAE run trained on a stored LM run is that run's child.
      if (!parentId && this.store.getRun(parsed.config.lm)) parentId = parsed.config.lm;
    }
    if (parsed.kind === 'scalar') {
      const sae = resolveSaeRun(parsed.config.sae, this.store);
      resolveLmRef(sae.config.lm, this.store);
      parentId ??= parsed.config.sae;
      // A SCALAR run is filed under the architecture and setup of the SAEs it measures.
      archSetup = { arch: sae.config.arch, setup: sae.config.setup };
    }
    if (parsed.kind === 'latent-stats') {
      // Latent statistics are a child of the SAE run they describe.
      const sae = resolveSaeRun(parsed.config.sae, this.store);
      resolveLmRef(sae.config.lm, this.store);
      parentId ??= parsed.config.sae;
      archSetup = { arch: sae.config.arch, setup: sae.config.setup };
    }
    const seed = 'config' in parsed ? parsed.config.seed : null;
    const run = this.store.db
      .transaction(() => {
        const created = this.store.createRun({
          kind: RUN_KIND_OF_JOB[parsed.kind],
          name: meta.name?.trim() || defaultRunName(parsed, this.store),
          parentId,
          config: parsed,
          seed,
          ...archSetup,
        });
        this.store.recordRunInputs(created.id, checked.inputs);
        return created;
      })
      .immediate();
    this.owned.add(run.id);
    this.emit({ type: 'status', runId: run.id, status: 'queued' });
    for (const w of checked.warnings) this.emit({ type: 'log', runId: run.id, message: `warning: ${w}` });
    this.pump();
    return run;
  }

  /**
   * Re-queues a failed, cancelled or interrupted run; its worker continues from the run's saved state. The
   * run's pinned inputs must be the files it started with: a changed one is refused (naming the file and both
   * hashes) unless `acceptChangedInputs`, which continues on the new file and records the one it replaced.
   */
  resume(runId: string, opts: { acceptChangedInputs?: boolean } = {}): RunRecord {
    const run = this.store.requireRun(runId);
    if (!['failed', 'cancelled', 'interrupted'].includes(run.status)) {
      throw new Error(
        `run ${runId} is ${run.status}; only failed, cancelled or interrupted runs can be resumed`,
      );
    }
    if (run.kind === 'pipeline' || run.kind === 'reproduce')
      throw new Error(`run ${runId} is a ${run.kind}; resume it through the Api or 'scalar resume'`);
    if (isWithoutWeights(run))
      throw new InputError(
        withoutWeightsMessage(run, 'it cannot be resumed here (its resume state stayed out too)'),
      );
    const changed = this.store.checkRunInputs(runId).filter((c) => c.changed);
    const gone = changed.filter((c) => !c.now);
    if (gone.length || (changed.length && !opts.acceptChangedInputs))
      throw new InputError(changedInputsMessage(runId, gone.length ? gone : changed, 'resumed'));
    for (const c of changed) {
      this.store.acceptChangedInput(runId, c.input.path, c.now!);
      this.emit({
        type: 'log',
        runId,
        message: `continuing on the changed ${c.input.role} ${c.input.path} (sha256 ${c.now!.sha256}, was ${c.input.sha256}); recorded in the run's inputs`,
      });
    }
    const queued = this.store.updateRunStatus(runId, 'queued');
    this.owned.add(runId);
    this.emit({ type: 'status', runId, status: 'queued' });
    this.pump();
    return queued;
  }

  /** Stops a running job (it saves what it can and ends 'cancelled') or takes a queued one off the queue. */
  cancel(runId: string): void {
    const run = this.store.requireRun(runId); // unknown ids are errors
    const job = this.active.get(runId);
    if (job) {
      Atomics.store(job.cancelFlag, 0, 1);
      return;
    }
    if (run.status === 'queued') {
      this.owned.delete(runId);
      this.settle(this.store.updateRunStatus(runId, 'cancelled', { error: 'cancelled before it started' }));
      return;
    }
    if (run.status === 'running')
      throw new Error(`run ${runId} is running in another process (pid ${run.ownerPid}); cancel it there`);
    throw new Error(`run ${runId} is ${run.status}; only queued or running runs can be cancelled`);
  }

  /** Resolves when the run reaches a final or resumable state. */
  wait(runId: string): Promise<RunRecord> {
    const run = this.store.requireRun(runId);
    if (!['queued', 'running'].includes(run.status) || (!this.active.has(runId) && !this.mayStart(run))) {
      return Promise.resolve(run);
    }
    return new Promise((resolve) => this.waiters.set(runId, [...(this.waiters.get(runId) ?? []), resolve]));
  }

  /** Cancels everything and waits for the workers to stop. */
  /**
   * Stops the running workers (their runs end 'cancelled' and can be resumed). Queued runs of an adopting
   * manager stay queued for the next start; a CLI command's own queued runs are cancelled.
   */
  async shutdown(): Promise<void> {
    this.closing = true;
    if (!this.options.adoptQueued)
      for (const id of [...this.owned]) if (this.store.getRun(id)?.status === 'queued') this.cancel(id);
    const running = [...this.active.keys()];
    for (const id of running) this.cancel(id);
    await Promise.all(running.map((id) => this.wait(id)));
  }

  private closing = false;

  private mayStart(run: RunRecord): boolean {
    return run.status === 'queued' && (this.options.adoptQueued || this.owned.has(run.id));
  }

  private pump(): void {
    if (this.closing) return;
    while (this.active.size < this.concurrency) {
      const next = this.store.queuedRuns().find((r) => !this.active.has(r.id) && this.mayStart(r));
      if (!next) return;
      this.owned.delete(next.id);
      if (!this.launch(next)) return;
    }
  }

  /** Starts a queued run's worker; false when another process took the run first. */
  private launch(run: RunRecord): boolean {
    const runId = run.id;
    const parsedSpec = JobSpecSchema.safeParse(run.config);
    if (!parsedSpec.success) {
      this.store.startRun(runId, { ownerPid: process.pid, ownerHost: os.hostname() });
      this.settle(this.store.failRun(runId, `run ${runId} has no valid job configuration to run`));
      return true;
    }
    const spec = parsedSpec.data;
    // The files it was submitted (or last resumed) with: a run never silently continues on other inputs.
    const changed = this.store.checkRunInputs(runId).filter((c) => c.changed);
    if (changed.length) {
      this.store.startRun(runId, { ownerPid: process.pid, ownerHost: os.hostname() });
      this.settle(this.store.failRun(runId, changedInputsMessage(runId, changed, 'started')));
      return true;
    }
    const runDir = runArtifactsDir(this.store.dataDir, runId);
    // A resumed run's folder may hold half-written files of the attempt that was killed.
    if (run.startedAt) removeTempFiles(runDir);
    fs.mkdirSync(runDir, { recursive: true });
    const cancelFlag = new SharedArrayBuffer(4);
    let lmPath: string | undefined;
    let saeRun: WorkerInit['saeRun'];
    try {
      if (spec.kind === 'train-sae' || spec.kind === 'import-sae')
        lmPath = resolveLmRef(spec.config.lm, this.store);
      if (spec.kind === 'scalar' || spec.kind === 'latent-stats') {
        saeRun = resolveSaeRun(spec.config.sae, this.store);
        lmPath = resolveLmRef(saeRun.config.lm, this.store);
      }
    } catch (err) {
      this.store.startRun(runId, { ownerPid: process.pid, ownerHost: os.hostname() });
      this.settle(this.store.failRun(runId, err));
      return true;
    }
    const init: WorkerInit = {
      runId,
      spec,
      runDir,
      lmPath,
      saeRun,
      backend: this.options.backend,
      cancelFlag,
    };
    try {
      this.store.startRun(runId, { ownerPid: process.pid, ownerHost: os.hostname() });
    } catch {
      return false; // another process sharing the data dir started it first
    }
    this.emit({ type: 'status', runId, status: 'running' });
    const worker = spawnWorker(ENTRY, init);
    const job: ActiveJob = {
      worker,
      cancelFlag: new Int32Array(cancelFlag),
      settled: false,
      inbox: Promise.resolve(),
    };
    this.active.set(runId, job);
    worker.on('message', (m: WorkerMessage) => {
      job.inbox = job.inbox
        .then(() => withBusyRetry(() => this.onMessage(runId, job, m)))
        .catch((err: Error) =>
          this.finish(runId, job, () =>
            this.store.failRun(runId, `could not record the job's ${m.type} message: ${err.message}`),
          ),
        );
    });
    worker.on('error', (err) =>
      this.finish(runId, job, () => this.store.failRun(runId, `worker crashed: ${err.message}`)),
    );
    worker.on('exit', (code) => {
      job.inbox = job.inbox.then(() => {
        if (!job.settled)
          this.finish(runId, job, () =>
            this.store.failRun(runId, `worker exited with code ${code} before finishing`),
          );
      });
    });
    return true;
  }

  private async onMessage(runId: string, job: ActiveJob, m: WorkerMessage): Promise<void> {
    switch (m.type) {
      case 'started':
        this.store.setRunBackend(runId, m.backend.name);
        this.emit({
          type: 'log',
          runId,
          message: `backend ${m.backend.name} (${m.backend.detail}, kernels ${m.backend.kernels}) on ${m.backend.device}`,
        });
        break;
      case 'progress':
        this.store.setProgress(runId, {
          ...m.progress,
          rate: m.progress.stepsPerSecond,
          eta: m.progress.etaSeconds ?? undefined,
        });
        this.emit({ type: 'progress', runId, progress: m.progress });
        break;
      case 'metrics':
        this.store.recordMetrics(runId, m.step, m.scope, m.values);
        this.emit({ type: 'metrics', runId, step: m.step, scope: m.scope, values: m.values });
        break;
      case 'artifact':
        await this.store.registerArtifact({ runId, kind: m.kind, name: m.name, meta: m.meta });
        break;
      case 'log':
        this.emit({ type: 'log', runId, message: m.message });
        break;
      case 'curve':
        this.store.recordScalarCurve(runId, m.pair, m.target, m.points);
        break;
      case 'edges':
        this.store.recordEdges(runId, m.pair, m);
        break;
      case 'latents':
        recordLatentRows(this.store.db, runId, m.rows);
        break;
      case 'done':
        this.finish(runId, job, () => this.store.finishRun(runId, m.summary));
        break;
      case 'failed':
        this.finish(runId, job, () =>
          m.cancelled && this.closing && this.options.adoptQueued
            ? // The app or server closing is not the user cancelling: the run waits to be resumed.
              this.store.updateRunStatus(runId, 'interrupted', {
                error: 'stopped when the workstation closed; resume it (its last checkpoint is kept)',
              })
            : m.cancelled
              ? this.store.updateRunStatus(runId, 'cancelled', { error: m.error })
              : this.store.failRun(runId, m.error),
        );
        break;
    }
  }

  private finish(runId: string, job: ActiveJob, write: () => RunRecord): void {
    if (job.settled) return;
    job.settled = true;
    const record = write();
    this.active.delete(runId);
    void job.worker.terminate();
    this.settle(record);
    this.pump();
  }

  private settle(record: RunRecord): void {
    this.emit({ type: 'status', runId: record.id, status: record.status, error: record.error });
    for (const resolve of this.waiters.get(record.id) ?? []) resolve(record);
    this.waiters.delete(record.id);
  }
}

/** Why a run cannot go on: each changed input named with both identities, and what the user can do. */
export function changedInputsMessage(
  runId: string,
  changed: InputCheck[],
  verb: 'resumed' | 'started',
): string {
  const each = changed.map(({ input, now }) =>
    now
      ? `its ${input.role} ${input.path} changed since the run was submitted (sha256 ${input.sha256} then, ${now.sha256} now; ${input.bytes} bytes then, ${now.bytes} now)`
      : `its ${input.role} ${input.path} is gone (sha256 ${input.sha256}, ${input.bytes} bytes when the run was submitted)`,
  );
  const gone = changed.some((c) => !c.now);
  return (
    `run ${runId} cannot be ${verb}: ${each.join('; ')}. ` +
    (gone
      ? 'Put the file back, or start a new run.'
      : verb === 'resumed'
        ? 'Put the original file back, or resume with --accept-changed-inputs to continue on the new file (the run records that it did).'
        : 'Put the original file back and resume it, or resume with --accept-changed-inputs to run on the new file.')
  );
}
