/**
 * The one Api of the workstation. Transports (Electron IPC, the web-mode WebSocket) carry exactly these
 * requests and events, validated on both sides with these schemas.
 */
import { z } from 'zod';
import { LeftOutFileSchema } from './bundle.ts';
import { CompareApiMethods } from './compare/api.ts';
import { GpuAdapterSchema } from './device.ts';
import { JobEventSchema, JobSpecSchema } from './jobs.ts';
import { LatentApiMethods } from './latents.ts';
import { PipelineConfigSchema, PipelineJobSchema } from './pipeline.ts';
import { ReproduceConfigSchema } from './reproduce.ts';
import {
  FacetSchema,
  HeadlineSchema,
  RunQuerySchema,
  RunRefSchema,
  RunStatusSchema,
  RunTagSchema,
} from './runs.ts';

export { RunStatusSchema };

export const RunSummarySchema = z.object({
  id: z.string(),
  kind: z.string(),
  name: z.string(),
  parentId: z.string().nullable(),
  status: RunStatusSchema,
  seed: z.number().nullable(),
  backend: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  wallSeconds: z.number().nullable(),
  progress: z.record(z.string(), z.unknown()).nullable(),
  summary: z.unknown(),
  config: z.unknown(),
  error: z.string().nullable(),
  note: z.string(),
  tags: z.array(z.string()),
  arch: z.string().nullable(),
  setup: z.string().nullable(),
  headline: HeadlineSchema,
  childCount: z.number(),
  /** The parent run's name ('' when it has none), for lineage links without another request. */
  parentName: z.string().nullable(),
  /** Imported from a bundle without its weights (records only): what computes on it cannot run here. */
  withoutWeights: z.boolean().optional(),
});
export type RunSummary = z.infer<typeof RunSummarySchema>;

export const ArtifactSchema = z.object({
  id: z.number(),
  kind: z.string(),
  name: z.string(),
  sha256: z.string(),
  bytes: z.number(),
  createdAt: z.string(),
});

export const StatusChangeSchema = z.object({
  at: z.string(),
  status: RunStatusSchema,
  error: z.string().nullable(),
});

export const RunInputSchema = z.object({
  path: z.string(),
  role: z.string(),
  sha256: z.string(),
  bytes: z.number(),
  pinnedAt: z.string(),
  note: z.string().nullable(),
  /** Identities a resume accepted to replace (`--accept-changed-inputs`), oldest first. */
  replaced: z.array(z.object({ sha256: z.string(), bytes: z.number(), at: z.string() })),
});
export type RunInput = z.infer<typeof RunInputSchema>;

export const RunDetailSchema = RunSummarySchema.extend({
  metricKeys: z.array(z.object({ scope: z.string(), key: z.string() })),
  artifacts: z.array(ArtifactSchema),
  /** Nearest first: parent, grandparent, … */
  ancestors: z.array(RunRefSchema),
  children: z.array(RunRefSchema),
  statusHistory: z.array(StatusChangeSchema),
  /** The LM a SAE or SCALAR run depends on when it is not a run (e.g. `resources:ascii-64x4-brown`). */
  lmRef: z.string().nullable(),
  /** Files the run reads from outside its folder, pinned when it was submitted (sha256, size). */
  inputs: z.array(RunInputSchema).optional(),
  /** Files of its folder that the bundle it was imported from did not carry (weights, resume state). */
  filesLeftOut: z.array(LeftOutFileSchema).optional(),
});
export type RunDetail = z.infer<typeof RunDetailSchema>;

export const ModelEntrySchema = z.object({
  /** `resources:<name>` for models shipped with the app, a run id for trained ones, a path for a model folder. */
  ref: z.string(),
  name: z.string(),
  /** `folder`: a model folder on disk (e.g. a GPT-2 checkpoint) that earlier runs used as their LM. */
  source: z.enum(['bundled', 'run', 'folder']),
  params: z.number().nullable(),
  valLoss: z.number().nullable(),
  config: z.record(z.string(), z.unknown()),
});
export type ModelEntry = z.infer<typeof ModelEntrySchema>;

/** Longest path or reference the inspections accept (a path, not a file's content). */
const INSPECT_REF = z.string().trim().min(1).max(4096);

/**
 * A typed language-model reference, described from its config.json and its safetensors header (no weights are
 * loaded), or the loader's error when it cannot be used.
 */
export const LmInspectionSchema = z.object({
  ok: z.boolean(),
  /** Where the reference points: a model folder (or model.safetensors), a bundled model, an LM run. */
  source: z.enum(['folder', 'bundled', 'run']).nullable(),
  /** `gpt2`: GPT-2 BPE vocabulary (a Hugging Face GPT-2 checkpoint); `character`: the toy models' tokenizer. */
  tokenizer: z.enum(['gpt2', 'character']).nullable(),
  /** e.g. "GPT-2 · 12 blocks · d_model 768 · 124 M params · BPE vocabulary 50,257 · float32". */
  description: z.string().nullable(),
  params: z.number().nullable(),
  error: z.string().nullable(),
});
export type LmInspection = z.infer<typeof LmInspectionSchema>;

/** A typed text set: its kind, files and size, its head read by the job's own reader; or why it is unusable. */
export const TextSetInspectionSchema = z.object({
  ok: z.boolean(),
  kind: z.enum(['builtin', 'text', 'jsonl', 'folder']).nullable(),
  files: z.number().int().min(0),
  bytes: z.number().min(0),
  /** A folder or JSONL file: read as a stream only (an SAE run then needs an activation buffer). */
  streamedOnly: z.boolean(),
  /** e.g. "Folder · 14 files (12 plain text, 2 JSONL) · 3.4 MiB". */
  description: z.string().nullable(),
  error: z.string().nullable(),
});
export type TextSetInspection = z.infer<typeof TextSetInspectionSchema>;

export const SystemInfoSchema = z.object({
  appVersion: z.string(),
  dataDir: z.string(),
  /** Backend jobs will use: forced (SCALAR_BACKEND) or 'auto' (ladder: tensorflow-gpu → webgpu → wasm → tensorflow-cpu → cpu). */
  backendPreference: z.string(),
  lastBackend: z.string().nullable(),
  /** What the latest run that recorded one computed on: GPU adapter (vendor, architecture, driver) or CPU. */
  lastDevice: z.string().nullable().optional(),
  /** That run's WebGPU adapter (vendor, architecture, driver, API), null when it ran without one. */
  lastAdapter: GpuAdapterSchema.nullable().optional(),
  node: z.string(),
  platform: z.string(),
  mode: z.enum(['electron', 'web', 'cli']),
  cpus: z.number(),
  memoryBytes: z.number(),
});
export type SystemInfo = z.infer<typeof SystemInfoSchema>;

export const SettingsSchema = z.object({
  /** Jobs run at once (each job already uses both cores; more than one mostly helps on big machines). */
  concurrency: z.number().int().min(1).max(8),
  /** Resume interrupted runs when the app starts. */
  autoResume: z.boolean(),
});
export type Settings = z.infer<typeof SettingsSchema>;

export const QueueStateSchema = z.object({
  active: z.array(RunRefSchema),
  /** In the order they will start. */
  queued: z.array(RunRefSchema),
  settings: SettingsSchema,
});
export type QueueState = z.infer<typeof QueueStateSchema>;

export const RunPageSchema = z.object({
  total: z.number(),
  offset: z.number(),
  rows: z.array(RunSummarySchema),
  /** Counts over the whole store for the filter menus (not narrowed by the current filters). */
  facets: z.object({
    kinds: FacetSchema,
    statuses: FacetSchema,
    archs: FacetSchema,
    setups: FacetSchema,
    tags: FacetSchema,
  }),
});
export type RunPage = z.infer<typeof RunPageSchema>;

export const EstimateSchema = z.object({
  items: z.array(
    z.object({
      seconds: z.number().nullable(),
      /** How the figure was found, e.g. "median of 3 completed quick LM runs on this machine". */
      basis: z.string(),
    }),
  ),
  totalSeconds: z.number().nullable(),
});
export type Estimate = z.infer<typeof EstimateSchema>;

export const ScalarResultSchema = z.object({
  /** Per-pair metrics as the run's eval record stores them (scalar_auc_abs, _lo, _hi, edges, …). */
  pairs: z.array(z.record(z.string(), z.unknown())),
  curves: z.array(
    z.object({
      pair: z.string(),
      target: z.string(),
      points: z.array(
        z.object({
          n: z.number(),
          mean: z.number().nullable(),
          lo: z.number().nullable(),
          hi: z.number().nullable(),
        }),
      ),
    }),
  ),
});
export type ScalarResult = z.infer<typeof ScalarResultSchema>;

export const BundleExportResultSchema = z.object({
  /** File name under the data dir's exports/ folder; downloadable at `files/exports/<file>`. */
  file: z.string(),
  bytes: z.number(),
  runs: z.array(z.string()),
  /** Things the user should know that did not stop the export (e.g. a checkpoint rewritten after its hash). */
  warnings: z.array(z.string()).default([]),
});
export const BundleImportResultSchema = z.object({
  imported: z.array(z.string()),
  skipped: z.array(z.object({ id: z.string(), reason: z.string() })),
  warnings: z.array(z.string()).default([]),
});

/** The example project shipped in resources/example-project/ (a bundle), as its manifest describes it. */
export const ExampleProjectSchema = z.object({
  /** False when this installation ships no example bundle (then the other fields are empty). */
  available: z.boolean(),
  bytes: z.number(),
  runs: z.number(),
  /** Runs per kind, e.g. { sae: 27, scalar: 18, reproduce: 1 }. */
  kinds: z.record(z.string(), z.number()),
  seeds: z.array(z.number()),
  /** The reproduction's preset ('quick'), its run id and the language model it rests on (not in the bundle). */
  preset: z.string().nullable(),
  reproduceRunId: z.string().nullable(),
  lm: z.string().nullable(),
  /** Runs whose weights (SAE, LM) or tensors (SCALAR per-token KL) are in the bundle; the others: records only. */
  withWeights: z.number(),
  /** Runs imported "without weights" (records only: metrics, curves, kept edges). */
  withoutWeights: z.number(),
  /** How many of its runs this data dir already holds. */
  present: z.number(),
  createdAt: z.string().nullable(),
});
export type ExampleProject = z.infer<typeof ExampleProjectSchema>;

/**
 * Largest accepted upload per kind (web mode): a corpus is read whole into memory by the trainer; a bundle is
 * streamed. The page checks too, because a refused upload is cut off mid-body and the browser then reports a
 * network error rather than the server's reason.
 */
export const UPLOAD_LIMITS = { corpus: 64 * 1024 * 1024, bundle: 4 * 1024 * 1024 * 1024 } as const;

/** An uploaded file on the main side (web mode posts to /upload; Electron picks a path). */
export const UploadResultSchema = z.object({
  path: z.string(),
  name: z.string(),
  bytes: z.number(),
  sha256: z.string(),
});
export type UploadResult = z.infer<typeof UploadResultSchema>;

/** Request name → params and result schemas. */
export const ApiMethods = {
  'system.info': { params: z.object({}), result: SystemInfoSchema },
  'runs.list': {
    params: z.object({
      kind: z.string().optional(),
      status: RunStatusSchema.optional(),
      search: z.string().optional(),
      limit: z.number().int().positive().max(1000).optional(),
    }),
    result: z.array(RunSummarySchema),
  },
  /** The run table: filtered, sorted, grouped and paged in SQL. */
  'runs.query': { params: RunQuerySchema, result: RunPageSchema },
  'runs.update': {
    params: z.object({
      id: z.string(),
      name: z.string().max(200).optional(),
      note: z.string().max(20_000).optional(),
      tags: z.array(RunTagSchema).max(50).optional(),
    }),
    result: RunSummarySchema,
  },
  /** Runs that would also be deleted with these (their descendants not already listed). */
  'runs.dependents': {
    params: z.object({ ids: z.array(z.string()).min(1).max(5000) }),
    result: z.array(RunRefSchema),
  },
  'runs.delete': {
    params: z.object({
      ids: z.array(z.string()).min(1).max(5000),
      withDependents: z.boolean().default(false),
    }),
    result: z.object({ deleted: z.array(z.string()) }),
  },
  'runs.scalar': { params: z.object({ id: z.string() }), result: ScalarResultSchema },
  'runs.get': { params: z.object({ id: z.string() }), result: RunDetailSchema },
  'runs.metrics': {
    params: z.object({ id: z.string(), key: z.string(), scope: z.string().optional() }),
    result: z.array(z.object({ step: z.number(), value: z.number() })),
  },
  'models.list': { params: z.object({}), result: z.array(ModelEntrySchema) },
  /** Describes a typed LM reference (run id, `resources:<name>`, model folder) or says why it cannot be used. */
  'models.inspect': { params: z.object({ ref: INSPECT_REF }), result: LmInspectionSchema },
  /** Describes a typed text set (`builtin:brown`, a text or JSONL file, a folder) or says why it cannot be used. */
  'textSets.inspect': { params: z.object({ spec: INSPECT_REF }), result: TextSetInspectionSchema },
  'jobs.start': {
    params: z.object({ spec: JobSpecSchema, name: z.string().optional(), parentId: z.string().optional() }),
    result: RunSummarySchema,
  },
  /** Imports SAEs in the SAELens layout (one folder per hook of a setup) as an SAE run. */
  'saes.import': {
    params: z.object({ lm: z.string(), source: z.string(), name: z.string().optional() }),
    result: RunSummarySchema,
  },
  'jobs.cancel': { params: z.object({ id: z.string() }), result: z.object({ ok: z.literal(true) }) },
  /** `acceptChangedInputs`: continue although an input file changed since the run was submitted (recorded). */
  'jobs.resume': {
    params: z.object({ id: z.string(), acceptChangedInputs: z.boolean().optional() }),
    result: RunSummarySchema,
  },
  'jobs.queue': { params: z.object({}), result: QueueStateSchema },
  /** Moves a queued run to position `index` of the queue (0 = starts next). */
  'jobs.reorder': {
    params: z.object({ id: z.string(), index: z.number().int().min(0) }),
    result: QueueStateSchema,
  },
  /** Rough durations from this machine's finished runs of the same kind and schedule. */
  'jobs.estimate': {
    params: z.object({
      specs: z
        .array(z.union([JobSpecSchema, PipelineJobSchema]))
        .min(1)
        .max(1000),
    }),
    result: EstimateSchema,
  },
  'pipelines.start': {
    params: z.object({ config: PipelineConfigSchema, name: z.string().max(200).optional() }),
    result: RunSummarySchema,
  },
  /** `scalar reproduce`: the paper's comparisons over seeds, then the claims report (src-shared/reproduce.ts). */
  'reproduce.start': {
    params: z.object({ config: ReproduceConfigSchema, name: z.string().max(200).optional() }),
    result: RunSummarySchema,
  },
  'settings.get': { params: z.object({}), result: SettingsSchema },
  'settings.set': { params: SettingsSchema.partial(), result: SettingsSchema },
  'bundles.export': {
    params: z.object({
      ids: z.array(z.string()).min(1).max(5000),
      withDeps: z.boolean().default(true),
      /** `none`: records only (the runs arrive "without weights"), as `scalar bundle export --weights none`. */
      weights: z.enum(['all', 'none']).default('all'),
    }),
    result: BundleExportResultSchema,
  },
  /** `path`: an uploaded zip (web mode) or a file the user picked (Electron). */
  'bundles.import': { params: z.object({ path: z.string().min(1) }), result: BundleImportResultSchema },
  /** What the shipped example project holds, and how much of it this data dir already has. */
  'example.info': { params: z.object({}), result: ExampleProjectSchema },
  /** Imports the example project with the bundle import (runs already present are skipped, as for any bundle). */
  'example.import': {
    params: z.object({}),
    result: BundleImportResultSchema.extend({ reproduceRunId: z.string().nullable() }),
  },
  /** The comparer: `scalar compare`'s reductions with CIs, and metric summaries of several runs. */
  ...CompareApiMethods,
  /** Latent statistics, labels, edges per latent, matches and the circuit graph (src-shared/latents.ts). */
  ...LatentApiMethods,
} as const;

export type ApiMethod = keyof typeof ApiMethods;
export type ApiParams<M extends ApiMethod> = z.input<(typeof ApiMethods)[M]['params']>;
export type ApiResult<M extends ApiMethod> = z.infer<(typeof ApiMethods)[M]['result']>;

/** Implemented by the main-side service; called through a transport by the renderer. */
export interface Api {
  call<M extends ApiMethod>(method: M, params: ApiParams<M>): Promise<ApiResult<M>>;
  onEvent(listener: (e: z.infer<typeof JobEventSchema>) => void): () => void;
}

/** Wire format of the WebSocket transport (and the shape IPC messages are validated against). */
export const WireMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('request'), id: z.number().int(), method: z.string(), params: z.unknown() }),
  z.object({
    type: z.literal('response'),
    id: z.number().int(),
    ok: z.boolean(),
    result: z.unknown().optional(),
    error: z.string().optional(),
  }),
  z.object({ type: z.literal('event'), event: JobEventSchema }),
]);
export type WireMessage = z.infer<typeof WireMessageSchema>;
