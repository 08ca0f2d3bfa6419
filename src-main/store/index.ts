/**
 * The store facade: one open database + its data directory, with the repositories bound to them. The api and
 * jobs layers hold a Store; the free functions stay exported for tests and for code that has only a `Db`.
 */
import {
  artifactPath,
  getArtifact,
  listArtifacts,
  registerArtifact,
  resolveArtifactFile,
  verifyArtifact,
  type ArtifactKind,
  type ArtifactRecord,
  type ArtifactRef,
  type RegisterArtifactInput,
} from './artifacts.ts';
import { ensureDataDir, type DataDirLayout } from './dataDir.ts';
import {
  ancestorsOf,
  childrenOf,
  dependentsOf,
  getSetting,
  moveQueuedRun,
  queryRuns,
  queuedRuns,
  runFacets,
  setSetting,
  statusHistory,
  updateRunMeta,
  type Facets,
  type RunMetaUpdate,
  type RunQueryInput,
  type RunRefRow,
} from './runQuery.ts';
import { openDatabase, schemaVersion, type Db } from './db.ts';
import {
  acceptChangedInput,
  checkRunInputs,
  recordRunInputs,
  runInputs,
  type FileIdentity,
  type InputCheck,
  type NewRunInputRow,
  type RunInput,
} from './inputs.ts';
import type { Migration } from './migrations.ts';
import {
  getMetricSeries,
  latestMetrics,
  listMetricKeys,
  recordMetricRows,
  recordMetrics,
  type LatestMetric,
  type MetricKey,
  type MetricPoint,
  type MetricRow,
} from './metrics.ts';
import {
  getComparisons,
  getEdges,
  getScalarCurves,
  recordComparisons,
  recordEdges,
  recordScalarCurve,
  type ComparisonRow,
  type CurvePoint,
  type EdgeRow,
} from './scalar.ts';
import {
  countRuns,
  createRun,
  deleteRun,
  failRun,
  finishRun,
  getRun,
  listRuns,
  markInterruptedRuns,
  requireRun,
  setProgress,
  setRunBackend,
  startRun,
  updateRunStatus,
  type InterruptOptions,
  type NewRunInput,
  type RunFilter,
  type RunProgress,
  type RunRecord,
  type RunStatus,
  type StatusUpdate,
} from './runs.ts';

export * from './artifacts.ts';
export * from './dataDir.ts';
export * from './db.ts';
export * from './errors.ts';
export * from './metrics.ts';
export * from './migrations.ts';
export * from './runId.ts';
export * from './runs.ts';
export * from './runQuery.ts';
export * from './scalar.ts';
export * from './latents.ts';
export * from './inputs.ts';
export * from './leftovers.ts';

export interface StoreOptions {
  /** Stamped on runs created through this store (`runs.app_version`). */
  appVersion?: string;
  /** Clock for timestamps; injected by tests. */
  now?: () => Date;
  /** Defaults to every known migration. */
  migrations?: readonly Migration[];
  busyTimeoutMs?: number;
}

export class Store {
  readonly db: Db;
  readonly layout: DataDirLayout;
  private readonly appVersion: string | null;
  private readonly now: () => Date;

  private constructor(db: Db, layout: DataDirLayout, options: StoreOptions) {
    this.db = db;
    this.layout = layout;
    this.appVersion = options.appVersion ?? null;
    this.now = options.now ?? (() => new Date());
  }

  /** Creates the data dir if needed, opens `<dataDir>/scalar.db` and migrates it to the latest schema. */
  static open(dataDir: string, options: StoreOptions = {}): Store {
    const layout = ensureDataDir(dataDir);
    const db = openDatabase(layout.dbPath, {
      migrations: options.migrations,
      busyTimeoutMs: options.busyTimeoutMs,
    });
    return new Store(db, layout, options);
  }

  get dataDir(): string {
    return this.layout.root;
  }

  get schemaVersion(): number {
    return schemaVersion(this.db);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // Runs

  createRun(input: NewRunInput): RunRecord {
    return createRun(this.db, { appVersion: this.appVersion, ...input }, this.now());
  }
  getRun(id: string): RunRecord | undefined {
    return getRun(this.db, id);
  }
  requireRun(id: string): RunRecord {
    return requireRun(this.db, id);
  }
  listRuns(filter?: RunFilter): RunRecord[] {
    return listRuns(this.db, filter);
  }
  countRuns(filter?: RunFilter): number {
    return countRuns(this.db, filter);
  }
  updateRunStatus(id: string, status: RunStatus, update?: StatusUpdate): RunRecord {
    return updateRunStatus(this.db, id, status, update, this.now());
  }
  startRun(
    id: string,
    options?: { backend?: string | null; ownerPid?: number; ownerHost?: string },
  ): RunRecord {
    return startRun(this.db, id, options, this.now());
  }
  recordScalarCurve(runId: string, pair: string, target: string, points: CurvePoint[]): void {
    recordScalarCurve(this.db, runId, pair, target, points);
  }
  recordEdges(
    runId: string,
    pair: string,
    edges: { i: ArrayLike<number>; j: ArrayLike<number>; score: ArrayLike<number> },
  ): number {
    return recordEdges(this.db, runId, pair, edges);
  }
  recordComparisons(rows: ComparisonRow[]): void {
    recordComparisons(this.db, rows);
  }
  getComparisons(runId: string): ComparisonRow[] {
    return getComparisons(this.db, runId);
  }
  getScalarCurves(runId: string) {
    return getScalarCurves(this.db, runId);
  }
  getEdges(
    runId: string,
    pair: string,
    opts?: { limit?: number; upstream?: number; downstream?: number },
  ): EdgeRow[] {
    return getEdges(this.db, runId, pair, opts);
  }
  setRunBackend(id: string, backend: string): void {
    setRunBackend(this.db, id, backend, this.now());
  }
  setProgress(id: string, progress: RunProgress): boolean {
    return setProgress(this.db, id, progress, this.now());
  }
  finishRun(id: string, summary: unknown): RunRecord {
    return finishRun(this.db, id, summary, this.now());
  }
  failRun(id: string, error: unknown): RunRecord {
    return failRun(this.db, id, error, this.now());
  }
  markInterruptedRuns(options?: InterruptOptions): string[] {
    return markInterruptedRuns(this.db, { now: this.now(), ...options });
  }
  deleteRun(id: string, options?: { withDescendants?: boolean }): string[] {
    return deleteRun(this.db, this.dataDir, id, options);
  }

  queryRuns(q: RunQueryInput): { total: number; rows: RunRecord[] } {
    return queryRuns(this.db, q);
  }
  runFacets(): Facets {
    return runFacets(this.db);
  }
  updateRunMeta(id: string, update: RunMetaUpdate): RunRecord {
    return updateRunMeta(this.db, id, update);
  }
  ancestorsOf(id: string): RunRefRow[] {
    return ancestorsOf(this.db, id);
  }
  childrenOf(id: string): RunRefRow[] {
    return childrenOf(this.db, id);
  }
  dependentsOf(ids: string[]): RunRefRow[] {
    return dependentsOf(this.db, ids);
  }
  statusHistory(id: string) {
    return statusHistory(this.db, id);
  }
  queuedRuns(): RunRecord[] {
    return queuedRuns(this.db);
  }
  moveQueuedRun(id: string, index: number): void {
    moveQueuedRun(this.db, id, index);
  }
  getSetting<T>(key: string, fallback: T): T {
    return getSetting(this.db, key, fallback);
  }
  setSetting(key: string, value: unknown): void {
    setSetting(this.db, key, value);
  }

  // Inputs pinned to runs

  recordRunInputs(runId: string, inputs: NewRunInputRow[]): void {
    recordRunInputs(this.db, runId, inputs, this.now());
  }
  runInputs(runId: string): RunInput[] {
    return runInputs(this.db, runId);
  }
  checkRunInputs(runId: string): InputCheck[] {
    return checkRunInputs(this.db, runId);
  }
  acceptChangedInput(runId: string, path: string, now: FileIdentity): void {
    acceptChangedInput(this.db, runId, path, now, this.now());
  }

  // Metrics

  recordMetrics(
    runId: string,
    step: number,
    scope: string,
    values: Readonly<Record<string, number>>,
  ): number {
    return recordMetrics(this.db, runId, step, scope, values);
  }
  recordMetricRows(rows: Iterable<MetricRow>): number {
    return recordMetricRows(this.db, rows);
  }
  getMetricSeries(runId: string, key: string, scope?: string): MetricPoint[] {
    return getMetricSeries(this.db, runId, key, scope);
  }
  latestMetrics(runId: string): LatestMetric[] {
    return latestMetrics(this.db, runId);
  }
  listMetricKeys(runId: string): MetricKey[] {
    return listMetricKeys(this.db, runId);
  }

  // Artifacts

  artifactPath(runId: string, name: string): string {
    return artifactPath(this.dataDir, runId, name);
  }
  registerArtifact(input: RegisterArtifactInput): Promise<ArtifactRecord> {
    return registerArtifact(this.db, this.dataDir, input, this.now());
  }
  verifyArtifact(ref: ArtifactRef): Promise<ArtifactRecord> {
    return verifyArtifact(this.db, this.dataDir, ref);
  }
  getArtifact(ref: ArtifactRef): ArtifactRecord | undefined {
    return getArtifact(this.db, ref);
  }
  listArtifacts(runId: string, kind?: ArtifactKind): ArtifactRecord[] {
    return listArtifacts(this.db, runId, kind);
  }
  resolveArtifactFile(artifact: ArtifactRecord): string {
    return resolveArtifactFile(this.dataDir, artifact);
  }
}
