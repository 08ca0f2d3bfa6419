/**
 * The UI's live state: what the server reports (system info, runs, models) kept current from job events,
 * plus the latest progress of running jobs. Components read it; only this class talks to the Api client.
 */
import type { ModelEntry, RunSummary, SystemInfo } from '../../src-shared/api.ts';
import type { JobEvent, JobProgress } from '../../src-shared/jobs.ts';
import type { ApiClient, ConnectionState } from './api.ts';
import { quickLmJob } from './quickLm.ts';

const ACTIVE_STATUSES = new Set(['queued', 'running']);

export function isActive(run: RunSummary | null | undefined): boolean {
  return !!run && ACTIVE_STATUSES.has(run.status);
}

export class Workstation {
  info = $state<SystemInfo | null>(null);
  runs = $state<RunSummary[]>([]);
  models = $state<ModelEntry[]>([]);
  /** Latest progress event per run id (live; the store's copy in run.progress lags behind). */
  progress = $state<Record<string, JobProgress>>({});
  connection = $state<ConnectionState>('connecting');
  /** The last failed request, shown until the next success. */
  error = $state<string | null>(null);
  /** The run the training panel follows: the one started here, else the newest active run. */
  trackedRunId = $state<string | null>(null);

  trackedRun = $derived<RunSummary | null>(
    this.runs.find((r) => r.id === this.trackedRunId) ?? this.runs.find((r) => isActive(r)) ?? null,
  );

  private refreshTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(readonly api: ApiClient) {
    this.connection = api.connection;
  }

  /** Subscribes to events and loads everything; returns the unsubscribe. */
  start(): () => void {
    const offEvents = this.api.onEvent((e) => this.onJobEvent(e));
    const offConnection = this.api.onConnection((state) => {
      this.connection = state;
      if (state === 'open') void this.refreshAll();
    });
    void this.refreshAll();
    return () => {
      offEvents();
      offConnection();
      if (this.refreshTimer) clearTimeout(this.refreshTimer);
    };
  }

  async refreshAll(): Promise<void> {
    await Promise.all([this.refreshInfo(), this.refreshRuns(), this.refreshModels()]);
  }

  /** system.info also names the backend of the latest run, which changes as runs finish. */
  refreshInfo(): Promise<void> {
    return this.guard(async () => {
      this.info = await this.api.call('system.info', {});
    });
  }

  refreshRuns(): Promise<void> {
    return this.guard(async () => {
      this.runs = await this.api.call('runs.list', { limit: 200 });
    });
  }

  refreshModels(): Promise<void> {
    return this.guard(async () => {
      this.models = await this.api.call('models.list', {});
    });
  }

  async startQuickLm(): Promise<void> {
    await this.guard(async () => {
      const run = await this.api.call('jobs.start', quickLmJob(0));
      this.trackedRunId = run.id;
      this.upsertRun(run);
    });
  }

  async cancel(runId: string): Promise<void> {
    await this.guard(() => this.api.call('jobs.cancel', { id: runId }));
  }

  private onJobEvent(e: JobEvent): void {
    if (e.type === 'progress') {
      this.progress[e.runId] = e.progress;
    } else if (e.type === 'status') {
      // The row's other fields (backend, summary, timings) change with the status: reload the rows rather than
      // patch the status alone, so a run never shows 'completed' without its results.
      this.scheduleRunsRefresh();
      if (e.status === 'completed') void Promise.all([this.refreshModels(), this.refreshInfo()]);
    } else if (e.type === 'log') {
      // A job's first log line reports its compute backend, which the run row shows.
      this.scheduleRunsRefresh();
    }
  }

  /** Several status events arrive together (queued → running); one reload serves them all. */
  private scheduleRunsRefresh(): void {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      void this.refreshRuns();
    }, 150);
  }

  private upsertRun(run: RunSummary): void {
    const i = this.runs.findIndex((r) => r.id === run.id);
    if (i >= 0) this.runs[i] = run;
    else this.runs = [run, ...this.runs];
  }

  private async guard(work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
      this.error = null;
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    }
  }
}
