/**
 * The Api implementation over the store and the job queue: the only thing the transports (IPC, WebSocket) and
 * the CLI call. Every request's params are validated with the shared schemas before anything runs.
 */
import os from 'node:os';
import {
  ApiMethods,
  type Api,
  type ApiMethod,
  type ApiParams,
  type ApiResult,
  type ModelEntry,
  type RunDetail,
  type RunSummary,
  type SystemInfo,
} from '../../src-shared/api.ts';
import type { JobEvent } from '../../src-shared/jobs.ts';
import { saeImportSpec } from '../jobs/lmRef.ts';
import { JobManager, type JobManagerOptions } from '../jobs/manager.ts';
import { BUNDLED_PREFIX, listBundledModels } from '../resources.ts';
import { Store, type RunRecord } from '../store/index.ts';

export const APP_VERSION = '0.1.0';

export interface ServiceOptions extends JobManagerOptions {
  dataDir: string;
  mode: SystemInfo['mode'];
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
  };
}

type Handlers = { [M in ApiMethod]: (params: ApiResultParams<M>) => Promise<ApiResult<M>> | ApiResult<M> };
type ApiResultParams<M extends ApiMethod> = import('zod').infer<(typeof ApiMethods)[M]['params']>;

export class ScalarService implements Api {
  readonly store: Store;
  readonly jobs: JobManager;

  constructor(private readonly options: ServiceOptions) {
    this.store = Store.open(options.dataDir, { appVersion: APP_VERSION });
    this.jobs = new JobManager(this.store, options);
  }

  private readonly handlers: Handlers = {
    'system.info': () => ({
      appVersion: APP_VERSION,
      dataDir: this.store.dataDir,
      backendPreference: this.options.backend ?? process.env.SCALAR_BACKEND ?? 'auto',
      lastBackend: this.store.listRuns({ limit: 20 }).find((r) => r.backend)?.backend ?? null,
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
      artifacts: this.store.listArtifacts(p.id).map((a) => ({
        kind: a.kind,
        name: a.name,
        sha256: a.sha256,
        bytes: a.bytes,
        createdAt: a.createdAt,
      })),
    }),
    'runs.metrics': (p) => this.store.getMetricSeries(p.id, p.key, p.scope),
    'models.list': () => this.listModels(),
    'jobs.start': (p) => toRunSummary(this.jobs.submit(p.spec, { name: p.name, parentId: p.parentId })),
    'saes.import': (p) =>
      toRunSummary(this.jobs.submit(saeImportSpec(p.lm, p.source, this.store), { name: p.name })),
    'jobs.cancel': (p) => {
      this.jobs.cancel(p.id);
      return { ok: true as const };
    },
    'jobs.resume': (p) => toRunSummary(this.jobs.resume(p.id)),
  };

  async call<M extends ApiMethod>(method: M, params: ApiParams<M>): Promise<ApiResult<M>> {
    const spec = ApiMethods[method];
    if (!spec) throw new Error(`unknown api method ${String(method)}`);
    const parsed = spec.params.parse(params ?? {}) as ApiResultParams<M>;
    const result = await (this.handlers[method] as (p: ApiResultParams<M>) => Promise<ApiResult<M>>)(parsed);
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
    return [...bundled, ...trained];
  }

  async close(): Promise<void> {
    await this.jobs.shutdown();
    this.store.close();
  }
}
