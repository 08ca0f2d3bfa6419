/**
 * The one Api of the workstation. Transports (Electron IPC, the web-mode WebSocket) carry exactly these
 * requests and events, validated on both sides with these schemas.
 */
import { z } from 'zod';
import { JobEventSchema, JobSpecSchema } from './jobs.ts';

export const RunStatusSchema = z.enum([
  'queued',
  'running',
  'completed',
  'failed',
  'cancelled',
  'interrupted',
]);

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
});
export type RunSummary = z.infer<typeof RunSummarySchema>;

export const ArtifactSchema = z.object({
  kind: z.string(),
  name: z.string(),
  sha256: z.string(),
  bytes: z.number(),
  createdAt: z.string(),
});

export const RunDetailSchema = RunSummarySchema.extend({
  metricKeys: z.array(z.object({ scope: z.string(), key: z.string() })),
  artifacts: z.array(ArtifactSchema),
});
export type RunDetail = z.infer<typeof RunDetailSchema>;

export const ModelEntrySchema = z.object({
  /** `resources:<name>` for models shipped with the app, a run id for trained ones. */
  ref: z.string(),
  name: z.string(),
  source: z.enum(['bundled', 'run']),
  params: z.number().nullable(),
  valLoss: z.number().nullable(),
  config: z.record(z.string(), z.unknown()),
});
export type ModelEntry = z.infer<typeof ModelEntrySchema>;

export const SystemInfoSchema = z.object({
  appVersion: z.string(),
  dataDir: z.string(),
  /** Backend jobs will use: forced (SCALAR_BACKEND) or 'auto' (ladder: tensorflow → wasm → cpu). */
  backendPreference: z.string(),
  lastBackend: z.string().nullable(),
  node: z.string(),
  platform: z.string(),
  mode: z.enum(['electron', 'web', 'cli']),
});
export type SystemInfo = z.infer<typeof SystemInfoSchema>;

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
  'runs.get': { params: z.object({ id: z.string() }), result: RunDetailSchema },
  'runs.metrics': {
    params: z.object({ id: z.string(), key: z.string(), scope: z.string().optional() }),
    result: z.array(z.object({ step: z.number(), value: z.number() })),
  },
  'models.list': { params: z.object({}), result: z.array(ModelEntrySchema) },
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
  'jobs.resume': { params: z.object({ id: z.string() }), result: RunSummarySchema },
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
