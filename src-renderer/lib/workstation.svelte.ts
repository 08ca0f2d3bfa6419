/**
 * The UI's shared live state: what the server reports (system info, models, the job queue) kept current from
 * job events, plus the latest progress of running jobs. Views load their own data through `api` and reload
 * when `runsVersion` moves (it ticks, debounced, whenever a run changes status).
 */
import type { ModelEntry, QueueState, SystemInfo } from '../../src-shared/api.ts';
import type { JobEvent, JobProgress } from '../../src-shared/jobs.ts';
import type { ApiClient, ConnectionState } from './api.ts';

export class Workstation {
  info = $state<SystemInfo | null>(null);
  models = $state<ModelEntry[]>([]);
  queue = $state<QueueState | null>(null);
  /** Latest progress event per run id (live; the store's copy in run.progress lags behind). */
  progress = $state<Record<string, JobProgress>>({});
  connection = $state<ConnectionState>('connecting');
  /** The last failed request, shown until dismissed or the next success. */
  error = $state<string | null>(null);
  /** Bumped when any run changed status (or the connection came back): views reload what they show. */
  runsVersion = $state(0);

  private refreshTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(readonly api: ApiClient) {
    this.connection = api.connection;
  }

  /** Subscribes to events and loads everything; returns the unsubscribe. */
  start(): () => void {
    const offEvents = this.api.onEvent((e) => this.onJobEvent(e));
    const offConnection = this.api.onConnection((state) => {
      this.connection = state;
      if (state === 'open') {
        void this.refreshAll();
        this.runsVersion++;
      }
    });
    void this.refreshAll();
    return () => {
      offEvents();
      offConnection();
      if (this.refreshTimer) clearTimeout(this.refreshTimer);
    };
  }

  async refreshAll(): Promise<void> {
    await Promise.all([this.refreshInfo(), this.refreshModels(), this.refreshQueue()]);
  }

  refreshInfo(): Promise<void> {
    return this.guard(async () => {
      this.info = await this.api.call('system.info', {});
    });
  }

  refreshModels(): Promise<void> {
    return this.guard(async () => {
      this.models = await this.api.call('models.list', {});
    });
  }

  refreshQueue(): Promise<void> {
    return this.guard(async () => {
      this.queue = await this.api.call('jobs.queue', {});
    });
  }

  async cancel(runId: string): Promise<void> {
    await this.guard(() => this.api.call('jobs.cancel', { id: runId }));
  }

  async resume(runId: string): Promise<void> {
    await this.guard(() => this.api.call('jobs.resume', { id: runId }));
  }

  /** Runs `work`, shows its error in the banner if it throws; returns its result or undefined. */
  async guard<T>(work: () => Promise<T>): Promise<T | undefined> {
    try {
      const result = await work();
      this.error = null;
      return result;
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
      return undefined;
    }
  }

  private onJobEvent(e: JobEvent): void {
    if (e.type === 'progress') {
      this.progress[e.runId] = e.progress;
    } else if (e.type === 'status') {
      if (e.status !== 'running') delete this.progress[e.runId];
      this.scheduleRefresh();
      if (e.status === 'completed') void Promise.all([this.refreshModels(), this.refreshInfo()]);
    } else if (e.type === 'log') {
      // A job's first log line reports its compute backend, which run rows show.
      this.scheduleRefresh();
    }
  }

  /** Several status events arrive together (queued → running); one reload serves them all. */
  private scheduleRefresh(): void {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      this.runsVersion++;
      void this.refreshQueue();
    }, 150);
  }
}
