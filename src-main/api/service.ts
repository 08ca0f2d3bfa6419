/**
 * The Api implementation over the store and the job queue: the only thing the transports (IPC, WebSocket) and
 * the CLI call. Every request's params are validated with the shared schemas before anything runs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import {
  ApiMethods,
  type Api,
  type ApiMethod,
  type ApiParams,
  type ApiResult,
  type ModelEntry,
  type RunDetail,
  type RunSummary,
  type Settings,
  type SystemInfo,
  type UploadResult,
} from '../../src-shared/api.ts';
import type { JobEvent } from '../../src-shared/jobs.ts';
import { computeOf, type GpuAdapter } from '../../src-shared/device.ts';
import type { PipelineConfig } from '../../src-shared/pipeline.ts';
import { estimateJobs } from '../jobs/estimate.ts';
import { isWithoutWeights } from '../../src-shared/bundle.ts';
import { compareHandlers } from './compare.ts';
import { CompareThread } from './compareThread.ts';
import { exampleInfo, importExample } from './example.ts';
import { inspectLm, inspectTextSetSpec, modelFolderEntries } from './inspect.ts';
import { autoLatentStats, latentHandlers } from './latents.ts';
import { saeImportSpec } from '../jobs/lmRef.ts';
import { preflightPipeline } from '../jobs/preflight.ts';
import { InputError, userMessage } from '../userErrors.ts';
import { paramsIssuesText } from '../../src-shared/apiIssues.ts';
import { isZodError } from '../../src-shared/issues.ts';
import { JobManager, type JobManagerOptions } from '../jobs/manager.ts';
import { runPipeline } from '../jobs/pipeline.ts';
import { runReproduce } from '../jobs/reproduce.ts';
import type { ReproduceConfig } from '../../src-shared/reproduce.ts';
import { BUNDLED_PREFIX, listBundledModels } from '../resources.ts';
import { exportBundle, importBundle } from '../store/bundle.ts';
import { Store, type RunRecord } from '../store/index.ts';
import {
  exportsDir,
  receiveUpload,
  resolveDownload,
  safeFileName,
  uploadsDir,
  type Download,
  type UploadKind,
} from './files.ts';

export const APP_VERSION = '0.1.0';

export interface ServiceOptions extends JobManagerOptions {
  dataDir: string;
  mode: SystemInfo['mode'];
  /** Queue the latent-stats job when an SAE run completes (default true; see autoLatentStats). */
  autoLatentStats?: boolean;
  /** The example project's bundle (default: resources/example-project/, see resources.ts); tests give their own. */
  exampleBundle?: string;
}

export function toRunSummary(r: RunRecord): RunSummary {
  return {
    id: r.id,
    kind: r.kind,
    name: r.name,
    parentId: r.parentId,
    status: r.status,
    seed: r.seed,
    backend: r.backend,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    wallSeconds: r.wallSeconds,
    progress: (r.progress as Record<string, unknown> | null) ?? null,
    summary: r.summary,
    config: r.config,
    error: r.error,
    note: r.note,
    tags: r.tags,
    arch: r.arch,
    setup: r.setup,
    headline: r.headline,
    childCount: r.childCount,
    parentName: r.parentName,
    withoutWeights: isWithoutWeights(r),
  };
}

const DEFAULT_SETTINGS: Settings = { concurrency: 1, autoResume: false };

type Handlers = { [M in ApiMethod]: (params: ApiResultParams<M>) => Promise<ApiResult<M>> | ApiResult<M> };
type ApiResultParams<M extends ApiMethod> = import('zod').infer<(typeof ApiMethods)[M]['params']>;

export class ScalarService implements Api {
  readonly store: Store;
  readonly jobs: JobManager;
  /** The comparer's paired bootstraps run here, off the event loop. */
  readonly compareThread = new CompareThread();

  /** Pipelines orchestrated by this process (their steps are ordinary jobs). */
  private readonly pipelines = new Map<string, Promise<RunRecord>>();

  constructor(private readonly options: ServiceOptions) {
    this.store = Store.open(options.dataDir, { appVersion: APP_VERSION });
    // The desktop app and web mode own the queue; a CLI command runs only what it submits.
    const adoptQueued = options.adoptQueued ?? options.mode !== 'cli';
    const settings = this.settings();
    this.jobs = new JobManager(this.store, {
      ...options,
      adoptQueued,
      concurrency: options.concurrency ?? settings.concurrency,
    });
    if (adoptQueued && settings.autoResume) this.autoResume();
    // Latent statistics follow every completed SAE run (see autoLatentStats for when).
    if (options.autoLatentStats ?? true) this.jobs.onEvent((e) => autoLatentStats(this, e, adoptQueued));
  }

  settings(): Settings {
    return { ...DEFAULT_SETTINGS, ...this.store.getSetting<Partial<Settings>>('settings', {}) };
  }

  /**
   * Resumes the runs a killed process left interrupted. A pipeline resumes its own steps, so its children are
   * left to it.
   */
  private autoResume(): void {
    const ids = new Set(this.jobs.interruptedAtStart);
    for (const id of ids) {
      const run = this.store.getRun(id);
      if (!run || run.status !== 'interrupted') continue;
      const parentKind = run.parentId && ids.has(run.parentId) ? this.store.getRun(run.parentId)?.kind : null;
      if (parentKind === 'pipeline' || parentKind === 'reproduce') continue;
      try {
        this.resume(id);
      } catch (err) {
        this.jobs.events.emit('event', {
          type: 'log',
          runId: id,
          message: `auto-resume failed: ${(err as Error).message}`,
        });
      }
    }
  }

  /** Resumes a job or a pipeline (`acceptChangedInputs`: continue although an input file changed; recorded). */
  resume(id: string, opts: { acceptChangedInputs?: boolean } = {}): RunRecord {
    const run = this.store.requireRun(id);
    if (run.kind !== 'pipeline' && run.kind !== 'reproduce') return this.jobs.resume(id, opts);
    if (this.pipelines.has(id)) throw new Error(`${run.kind} ${id} is already running`);
    if (!['failed', 'cancelled', 'interrupted'].includes(run.status))
      throw new Error(
        `run ${id} is ${run.status}; only failed, cancelled or interrupted runs can be resumed`,
      );
    if (run.kind === 'reproduce')
      return this.launchReproduce(run.config as ReproduceConfig, { resume: id, ...opts });
    return this.launchPipeline(run.config as PipelineConfig, { resume: id, ...opts });
  }

  /** Starts (or resumes) a reproduction in the background, as a pipeline (its steps are ordinary jobs). */
  launchReproduce(
    config: ReproduceConfig,
    opts: { resume?: string; name?: string; acceptChangedInputs?: boolean },
  ): RunRecord {
    preflightPipeline(config, this.store, { backend: this.options.backend });
    return this.launchOrchestrator((onStart) => runReproduce(this, config, { ...opts, onStart }));
  }

  /** Starts (or resumes) a pipeline in the background; returns its run once it is recorded as running. */
  private launchPipeline(
    config: PipelineConfig,
    opts: { resume?: string; name?: string; acceptChangedInputs?: boolean },
  ): RunRecord {
    // Refuse a missing or broken LM or corpus before a run exists.
    preflightPipeline(config, this.store, { backend: this.options.backend });
    return this.launchOrchestrator((onStart) => runPipeline(this, config, { ...opts, onStart }));
  }

  /** Runs an orchestrating run (pipeline, reproduce) in the background; returns it once it is running. */
  private launchOrchestrator(start: (onStart: (run: RunRecord) => void) => Promise<RunRecord>): RunRecord {
    let started: RunRecord | undefined;
    const done = start((run) => {
      started = run;
      this.jobs.events.emit('event', { type: 'status', runId: run.id, status: 'running' });
    });
    if (!started) {
      void done.catch(() => {});
      throw new Error('the pipeline did not start');
    }
    const id = started.id;
    this.pipelines.set(id, done);
    void done
      .then((run) =>
        this.jobs.events.emit('event', { type: 'status', runId: id, status: run.status, error: run.error }),
      )
      .finally(() => this.pipelines.delete(id));
    return started;
  }

  /** Cancels a job, or a pipeline by cancelling its current step (the pipeline then ends 'cancelled'). */
  cancel(id: string): void {
    const run = this.store.requireRun(id);
    if (run.kind !== 'pipeline' && run.kind !== 'reproduce') return this.jobs.cancel(id);
    if (!this.pipelines.has(id)) {
      if (run.status === 'running')
        throw new Error(`pipeline ${id} runs in another process; cancel it there`);
      throw new Error(`run ${id} is ${run.status}; only queued or running runs can be cancelled`);
    }
    const children = Object.values((run.progress?.children as Record<string, string> | undefined) ?? {});
    for (const child of children) {
      const c = this.store.getRun(child);
      if (c && (c.status === 'queued' || c.status === 'running')) this.jobs.cancel(child);
    }
  }

  /** The queue as the UI shows it: running jobs and pipelines, then queued runs in start order. */
  queueState() {
    const ref = (r: RunRecord) => ({ id: r.id, kind: r.kind, name: r.name, status: r.status });
    const active = [...this.pipelines.keys(), ...this.jobs.activeIds()]
      .map((id) => this.store.getRun(id))
      .filter((r): r is RunRecord => !!r)
      .map(ref);
    return { active, queued: this.store.queuedRuns().map(ref), settings: this.settings() };
  }

  /** Web mode's POST /upload. */
  upload(
    kind: UploadKind,
    fileName: string,
    body: Readable,
    declaredBytes: number | null,
  ): Promise<UploadResult> {
    return receiveUpload(this.store.dataDir, kind, fileName, body, declaredBytes);
  }

  /** Web mode's (and the app protocol's) GET /files/…. */
  download(urlPath: string): Download | null {
    return resolveDownload(this.store, urlPath);
  }

  private readonly handlers: Handlers = {
    'system.info': () => ({
      cpus: os.availableParallelism(),
      memoryBytes: os.totalmem(),
      appVersion: APP_VERSION,
      dataDir: this.store.dataDir,
      backendPreference: this.options.backend ?? process.env.SCALAR_BACKEND ?? 'auto',
      lastBackend: this.store.listRuns({ limit: 20 }).find((r) => r.backend)?.backend ?? null,
      ...lastDeviceOf(this.store.listRuns({ limit: 20 })),
      node: process.version,
      platform: `${os.platform()} ${os.arch()}`,
      mode: this.options.mode,
    }),
    'runs.list': (p) =>
      this.store
        .listRuns({ kind: p.kind, status: p.status, search: p.search, limit: p.limit ?? 200 })
        .map(toRunSummary),
    'runs.get': (p): RunDetail => ({
      ...toRunSummary(this.store.requireRun(p.id)),
      metricKeys: this.store.listMetricKeys(p.id).map((k) => ({ scope: k.scope, key: k.key })),
      ancestors: this.store.ancestorsOf(p.id),
      children: this.store.childrenOf(p.id),
      statusHistory: this.store.statusHistory(p.id),
      lmRef: lmRefOf(this.store.requireRun(p.id)),
      inputs: this.store.runInputs(p.id),
      filesLeftOut: this.store.requireRun(p.id).filesLeftOut,
      artifacts: this.store.listArtifacts(p.id).map((a) => ({
        id: a.id,
        kind: a.kind,
        name: a.name,
        sha256: a.sha256,
        bytes: a.bytes,
        createdAt: a.createdAt,
      })),
    }),
    'runs.metrics': (p) => {
      this.store.requireRun(p.id); // unknown ids are errors, not empty series
      return this.store.getMetricSeries(p.id, p.key, p.scope);
    },
    'runs.query': (p) => {
      const { total, rows } = this.store.queryRuns(p);
      return { total, offset: p.offset, rows: rows.map(toRunSummary), facets: this.store.runFacets() };
    },
    'runs.update': (p) => toRunSummary(this.store.updateRunMeta(p.id, p)),
    'runs.dependents': (p) => {
      for (const id of p.ids) this.store.requireRun(id);
      return this.store.dependentsOf(p.ids);
    },
    'runs.delete': (p) => {
      for (const id of p.ids) this.store.requireRun(id); // unknown ids are errors, before anything is deleted
      const dependents = this.store.dependentsOf(p.ids);
      if (dependents.length > 0 && !p.withDependents)
        throw new Error(
          `${dependents.length} run(s) depend on the selection (${dependents
            .slice(0, 5)
            .map((r) => r.id)
            .join(', ')}${dependents.length > 5 ? ', …' : ''}); confirm deleting them too`,
        );
      const active = [...p.ids, ...dependents.map((r) => r.id)].filter((id) =>
        ['running', 'queued'].includes(this.store.getRun(id)?.status ?? ''),
      );
      if (active.length > 0)
        throw new Error(`cannot delete queued or running run(s) ${active.join(', ')}: cancel them first`);
      const deleted: string[] = [];
      for (const id of p.ids)
        if (this.store.getRun(id)) deleted.push(...this.store.deleteRun(id, { withDescendants: true }));
      return { deleted };
    },
    'runs.scalar': (p) => {
      const run = this.store.requireRun(p.id);
      if (run.kind !== 'scalar') throw new Error(`run ${p.id} is a ${run.kind} run, not a SCALAR evaluation`);
      const pairs =
        (run.summary as { eval_result_metrics?: { pairs?: Record<string, unknown>[] } } | null)
          ?.eval_result_metrics?.pairs ?? [];
      return { pairs, curves: this.store.getScalarCurves(p.id) };
    },
    'models.list': () => this.listModels(),
    'models.inspect': (p) => inspectLm(p.ref, this.store),
    'textSets.inspect': (p) => inspectTextSetSpec(p.spec),
    'jobs.start': (p) => toRunSummary(this.jobs.submit(p.spec, { name: p.name, parentId: p.parentId })),
    'saes.import': (p) =>
      toRunSummary(this.jobs.submit(saeImportSpec(p.lm, p.source, this.store), { name: p.name })),
    'jobs.cancel': (p) => {
      this.cancel(p.id);
      return { ok: true as const };
    },
    'jobs.resume': (p) => toRunSummary(this.resume(p.id, { acceptChangedInputs: p.acceptChangedInputs })),
    'jobs.queue': () => this.queueState(),
    'jobs.reorder': (p) => {
      this.jobs.reorder(p.id, p.index);
      return this.queueState();
    },
    'jobs.estimate': (p) => estimateJobs(this.store, p.specs),
    'pipelines.start': (p) => toRunSummary(this.launchPipeline(p.config, { name: p.name })),
    'reproduce.start': (p) => toRunSummary(this.launchReproduce(p.config, { name: p.name })),
    'settings.get': () => this.settings(),
    'settings.set': (p) => {
      const next = { ...this.settings(), ...p };
      this.store.setSetting('settings', next);
      this.jobs.setConcurrency(next.concurrency);
      return next;
    },
    'bundles.export': async (p) => {
      const dir = exportsDir(this.store.dataDir);
      fs.mkdirSync(dir, { recursive: true });
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
      const first = safeFileName(this.store.requireRun(p.ids[0]).name || p.ids[0], 'runs');
      const file = `${stamp}-${p.ids.length > 1 ? `${p.ids.length}-runs` : first}.zip`;
      const result = await exportBundle(this.store, p.ids, path.join(dir, file), {
        withDeps: p.withDeps,
        weights: p.weights,
        appVersion: APP_VERSION,
      });
      return { file, bytes: result.bytes, runs: result.runs, warnings: result.warnings };
    },
    'bundles.import': async (p) => {
      try {
        return await importBundle(this.store, p.path);
      } finally {
        // An uploaded bundle has done its job once imported or refused; a file the user picked is theirs.
        if (path.dirname(path.resolve(p.path)) === uploadsDir(this.store.dataDir))
          fs.rmSync(p.path, { force: true });
      }
    },
    'example.info': () => exampleInfo(this.store, this.options.exampleBundle),
    'example.import': () => importExample(this.store, this.options.exampleBundle),
    ...compareHandlers(this),
    ...latentHandlers(this),
  };

  async call<M extends ApiMethod>(method: M, params: ApiParams<M>): Promise<ApiResult<M>> {
    const spec = ApiMethods[method];
    if (!spec) throw new Error(`unknown api method ${String(method)}`);
    const checked = spec.params.safeParse(params ?? {});
    // Refusals read like the CLI's: "option --k must be an integer ≥ 1 (got 2.5)", never a raw issue list.
    if (!checked.success) throw new InputError(paramsIssuesText(method, checked.error, params));
    const parsed = checked.data as ApiResultParams<M>;
    let result: ApiResult<M>;
    try {
      result = await (this.handlers[method] as (p: ApiResultParams<M>) => Promise<ApiResult<M>>)(parsed);
    } catch (err) {
      if (isZodError(err)) throw new InputError(userMessage(err));
      throw err;
    }
    return spec.result.parse(result) as ApiResult<M>;
  }

  onEvent(listener: (e: JobEvent) => void): () => void {
    return this.jobs.onEvent(listener);
  }

  listModels(): ModelEntry[] {
    const bundled: ModelEntry[] = listBundledModels().map((m) => ({
      ref: `${BUNDLED_PREFIX}${m.name}`,
      name: m.name,
      source: 'bundled',
      params: typeof m.record?.params === 'number' ? m.record.params : null,
      valLoss: typeof m.record?.val_loss === 'number' ? m.record.val_loss : null,
      config: m.config,
    }));
    const trained: ModelEntry[] = this.store.listRuns({ kind: 'lm', status: 'completed' }).map((r) => {
      const s = (r.summary ?? {}) as Record<string, unknown>;
      return {
        ref: r.id,
        name: r.name || r.id,
        source: 'run',
        params: typeof s.params === 'number' ? s.params : null,
        valLoss: typeof s.valLoss === 'number' ? s.valLoss : null,
        config: ((r.config as { config?: { model?: Record<string, unknown> } })?.config?.model ??
          {}) as Record<string, unknown>,
      };
    });
    // Newest first, so a folder used again recently leads its group.
    const usedRefs = this.store
      .listRuns({ kind: ['sae', 'pipeline', 'reproduce'] })
      .map(lmRefOf)
      .filter((r): r is string => r !== null);
    return [...bundled, ...trained, ...modelFolderEntries(usedRefs, this.store)];
  }

  async close(): Promise<void> {
    await this.jobs.shutdown();
    // Pipelines end when their current step is cancelled; wait so their runs are recorded before closing.
    await Promise.allSettled([...this.pipelines.values()]);
    await this.compareThread.close();
    this.store.close();
  }
}

/** The LM a SAE or SCALAR run rests on when that LM is not itself a run (a bundled model or a folder). */
function lmRefOf(run: RunRecord): string | null {
  const c = (run.config as { config?: { lm?: unknown } } | null)?.config;
  if (run.kind === 'sae' && typeof c?.lm === 'string') return c.lm;
  const lm = (run.config as { lm?: unknown } | null)?.lm;
  if ((run.kind === 'pipeline' || run.kind === 'reproduce') && typeof lm === 'string') return lm;
  return null;
}

/** The device (and WebGPU adapter) the latest run recorded in its summary (worker.ts adds them), if any. */
function lastDeviceOf(runs: RunRecord[]): { lastDevice: string | null; lastAdapter: GpuAdapter | null } {
  for (const r of runs) {
    const c = computeOf(r.backend, r.summary);
    if (c.device) return { lastDevice: c.device, lastAdapter: c.adapter };
  }
  return { lastDevice: null, lastAdapter: null };
}
