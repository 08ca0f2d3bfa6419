/** Language-model contracts: model architecture, training schedule, and the named presets (SPEC §1). */
import { z } from 'zod';
import { LmEvaluationSchema } from './evalProtocol.ts';

export const GptConfigSchema = z.object({
  vocabSize: z.number().int().positive(),
  contextLength: z.number().int().positive(),
  dModel: z.number().int().positive(),
  nLayer: z.number().int().positive(),
  nHead: z.number().int().positive(),
  dMlp: z.number().int().positive(),
  /** The norm before the MLP: LayerNorm, or DyT(x) = γ ⊙ tanh(αx) + β (SPEC §1.1). */
  norm2: z.enum(['layernorm', 'dyt']).default('layernorm'),
  lnEps: z.number().positive().default(1e-5),
  dytAlphaInit: z.number().default(10),
});
export type GptConfig = z.infer<typeof GptConfigSchema>;

export const LmScheduleSchema = z.object({
  steps: z.number().int().positive(),
  batchSize: z.number().int().positive(),
  /** Tokens per training window; ≤ the model's context length. */
  seqLen: z.number().int().positive(),
  lr: z.number().positive().default(1e-3),
  minLr: z.number().nonnegative().default(1e-5),
  warmupSteps: z.number().int().nonnegative().default(1000),
  weightDecay: z.number().nonnegative().default(0.1),
  beta1: z.number().default(0.9),
  beta2: z.number().default(0.95),
  eps: z.number().default(1e-8),
  gradClip: z.number().positive().default(1.0),
  evalEvery: z.number().int().positive().default(250),
  /** Legacy protocol only (runs without `evaluation`): validation batches of `batchSize` windows. */
  evalBatches: z.number().int().positive().default(8),
});
export type LmSchedule = z.infer<typeof LmScheduleSchema>;

export const LmTrainConfigSchema = z
  .object({
    preset: z.string(),
    model: GptConfigSchema,
    schedule: LmScheduleSchema,
    /** `builtin:brown` or a path to a UTF-8 text file. */
    corpus: z.string().default('builtin:brown'),
    tokenizer: z.literal('ascii').default('ascii'),
    seed: z.number().int().nonnegative().default(0),
    trainFraction: z.number().gt(0).lt(1).default(0.9),
    /**
     * The evaluation protocol (evalProtocol.ts). New runs always get one (the builders, and the job manager for a
     * spec without it); a stored config without it is a run made before and keeps its legacy batches.
     */
    evaluation: LmEvaluationSchema.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.schedule.seqLen > c.model.contextLength)
      ctx.addIssue({
        code: 'custom',
        path: ['schedule', 'seqLen'],
        message: `must be ≤ the model's context length ${c.model.contextLength} (got ${c.schedule.seqLen})`,
      });
  });
export type LmTrainConfig = z.infer<typeof LmTrainConfigSchema>;

const ascii64x4: GptConfig = {
  vocabSize: 128,
  contextLength: 128,
  dModel: 64,
  nLayer: 4,
  nHead: 4,
  dMlp: 256,
  norm2: 'layernorm',
  lnEps: 1e-5,
  dytAlphaInit: 10,
};

/** The paper's schedule (SPEC §1.2): 10,000 steps of 128 × 128 tokens, warmup 1,000, cosine to 1e-5. */
const paperSchedule: LmSchedule = LmScheduleSchema.parse({
  steps: 10_000,
  batchSize: 128,
  seqLen: 128,
  evalEvery: 500,
});

export const LM_PRESETS = {
  /** Small enough to train in about a minute on two CPU cores; for trying the pipeline end to end. */
  quick: {
    model: { ...ascii64x4, contextLength: 64, dModel: 32, nLayer: 2, nHead: 2, dMlp: 128 },
    schedule: LmScheduleSchema.parse({
      steps: 600,
      batchSize: 16,
      seqLen: 64,
      warmupSteps: 60,
      minLr: 1e-4,
      lr: 3e-3,
      evalEvery: 100,
      evalBatches: 4,
    }),
  },
  /** The paper's 216,448-parameter model with the paper schedule. */
  'ascii-64x4': { model: ascii64x4, schedule: paperSchedule },
  /** DyT before the MLP (216,452 parameters), paper schedule. */
  'ascii-64x4-dyt': { model: { ...ascii64x4, norm2: 'dyt' as const }, schedule: paperSchedule },
  /** A larger toy model (D 128, 6 layers). */
  'ascii-128x6': { model: { ...ascii64x4, dModel: 128, nLayer: 6, dMlp: 512 }, schedule: paperSchedule },
} satisfies Record<string, { model: GptConfig; schedule: LmSchedule }>;
export type LmPresetName = keyof typeof LM_PRESETS;
export const LM_PRESET_NAMES = Object.keys(LM_PRESETS) as LmPresetName[];
