/** Job contracts: what can be started, and the progress/events a running job reports. */
import { z } from 'zod';
import { LmTrainConfigSchema } from './lm.ts';
import { SaeImportConfigSchema, SaeTrainConfigSchema } from './sae.ts';
import { ScalarEvalConfigSchema } from './scalar.ts';
import { LatentStatsConfigSchema } from './latents.ts';
import { ValidateRankingConfigSchema } from './validation.ts';

export const TrainLmJobSchema = z.object({
  kind: z.literal('train-lm'),
  config: LmTrainConfigSchema,
});

export const TrainSaeJobSchema = z.object({
  kind: z.literal('train-sae'),
  config: SaeTrainConfigSchema,
});

export const ImportSaeJobSchema = z.object({
  kind: z.literal('import-sae'),
  config: SaeImportConfigSchema,
});

export const ScalarJobSchema = z.object({
  kind: z.literal('scalar'),
  config: ScalarEvalConfigSchema,
});

/** Latent statistics of an SAE run (a `latents` run, child of the SAE run). */
export const LatentStatsJobSchema = z.object({
  kind: z.literal('latent-stats'),
  config: LatentStatsConfigSchema,
});

/** Planted-circuit validation of SCALAR's edge ranking (issue 15): needs no model, builds its own. */
export const ValidateRankingJobSchema = z.object({
  kind: z.literal('validate-ranking'),
  config: ValidateRankingConfigSchema,
});

export const JobSpecSchema = z.discriminatedUnion('kind', [
  TrainLmJobSchema,
  TrainSaeJobSchema,
  ImportSaeJobSchema,
  ScalarJobSchema,
  LatentStatsJobSchema,
  ValidateRankingJobSchema,
]);
export type JobSpec = z.infer<typeof JobSpecSchema>;
export type JobKind = JobSpec['kind'];

/** The run kind (store `runs.kind`) each job creates. */
export const RUN_KIND_OF_JOB: Record<JobKind, string> = {
  'train-lm': 'lm',
  'train-sae': 'sae',
  'import-sae': 'sae',
  scalar: 'scalar',
  'latent-stats': 'latents',
  'validate-ranking': 'validation',
};

export const JobProgressSchema = z.object({
  step: z.number(),
  total: z.number(),
  stepsPerSecond: z.number(),
  /** Work units per second, e.g. tokens. */
  unitsPerSecond: z.number(),
  unit: z.string().default('tokens'),
  elapsedSeconds: z.number(),
  etaSeconds: z.number().nullable(),
  /** Job-specific scalars shown beside the bar (e.g. loss, lr). */
  values: z.record(z.string(), z.number()).default({}),
  phase: z.string().optional(),
});
export type JobProgress = z.infer<typeof JobProgressSchema>;

export const JobEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('progress'), runId: z.string(), progress: JobProgressSchema }),
  z.object({
    type: z.literal('status'),
    runId: z.string(),
    status: z.enum(['queued', 'running', 'completed', 'failed', 'cancelled', 'interrupted']),
    error: z.string().nullable().optional(),
  }),
  z.object({
    type: z.literal('metrics'),
    runId: z.string(),
    step: z.number(),
    scope: z.string(),
    values: z.record(z.string(), z.number()),
  }),
  z.object({ type: z.literal('log'), runId: z.string(), message: z.string() }),
]);
export type JobEvent = z.infer<typeof JobEventSchema>;
