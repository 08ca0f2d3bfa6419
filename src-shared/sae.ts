/** SAE contracts: architectures, setups, training schedule and presets (SPEC §2–§3). */
import { z } from 'zod';
import { SaeEvaluationSchema } from './evalProtocol.ts';

export const SAE_ARCHS = [
  'topk',
  'staircase',
  'staircase-detach',
  'staircase-untied',
  'staircase-tied-all',
  'staircase-shared-bias',
  'jsae',
  'relu',
  'jumprelu',
] as const;
export type SaeArch = (typeof SAE_ARCHS)[number];

/**
 * Architectures only ever imported (SAELens `standard` and `jumprelu` SAEs), never trained here. Their activation
 * is part of the SAE's structure: `relu` z = relu(pre), `jumprelu` z = relu(pre)·1[pre > θ] per latent.
 */
export const IMPORT_ONLY_ARCHS: readonly SaeArch[] = ['relu', 'jumprelu'];
export const TRAINABLE_ARCHS = SAE_ARCHS.filter((a) => !IMPORT_ONLY_ARCHS.includes(a));

/** Whether an SAE of this architecture keeps a varying number of latents per token (threshold activation). */
export const isThresholdArch = (arch: SaeArch) => arch === 'relu' || arch === 'jumprelu';

/**
 * How SCALAR's subcircuit pass (SPEC §4.3) applies SAE₁ to the reconstructed pre-activations R: written into
 * every SCALAR run record, so a reader knows which function the curve measures.
 */
export function subcircuitActivation(arch: SaeArch, relu: boolean): string {
  if (arch === 'relu')
    return "relu: Z₁ = max(R, 0) — the SAE's own ReLU on the reconstructed pre-activations; every positive latent is kept (no TopK)";
  if (arch === 'jumprelu')
    return "jumprelu(threshold): Z₁ = R·1[R > θ₁] with SAE₁'s per-latent threshold θ₁ (SAELens: relu(R)·1[R > θ₁]); no TopK";
  return relu
    ? 'topk_k(relu(R)): TopK_k of the ReLU of R (option relu)'
    : 'topk_k(R): TopK_k of the raw R (reference)';
}

export const SAE_SETUPS = ['tblock', 'fflayer', 'ffblock'] as const;
export type SaeSetup = (typeof SAE_SETUPS)[number];

export const SaeScheduleSchema = z.object({
  steps: z.number().int().positive(),
  batchSize: z.number().int().positive(),
  /** Tokens per window; omitted = the LM's context length. */
  seqLen: z.number().int().positive().optional(),
  lr: z.number().positive().default(1e-3),
  minLr: z.number().nonnegative().default(1e-4),
  warmupSteps: z.number().int().nonnegative().default(750),
  beta1: z.number().default(0.9),
  beta2: z.number().default(0.95),
  eps: z.number().default(1e-8),
  gradClip: z.number().positive().default(1.0),
  evalEvery: z.number().int().positive().default(500),
  /** Legacy protocol only (runs without `evaluation`): evaluation batches of `batchSize` windows. */
  evalBatches: z.number().int().positive().default(4),
  /** A latent is dead if it fired on none of the last this-many training tokens. */
  deadWindowTokens: z.number().int().positive().default(1_000_000),
});
export type SaeSchedule = z.infer<typeof SaeScheduleSchema>;

/** Why an architecture cannot be trained at a setup, or null (SPEC §3.2–§3.3). */
export function archSetupProblem(arch: SaeArch, setup: SaeSetup): string | null {
  if (arch === 'jsae' && setup === 'tblock')
    return 'JSAE needs a tractable Jacobian between its pair: use setup fflayer or ffblock';
  if (arch.startsWith('staircase') && setup === 'fflayer') {
    return 'a staircase shares one dictionary across residual-stream positions: use setup tblock or ffblock';
  }
  return null;
}

export const SaeTrainConfigSchema = z
  .object({
    preset: z.string(),
    /** The frozen language model: a run id, `resources:<name>` or a model folder path. */
    lm: z.string(),
    arch: z.enum(SAE_ARCHS),
    setup: z.enum(SAE_SETUPS),
    /** Latents per SAE (TopK, JSAE), or the chunk size n of a staircase (position p uses n·(p+1)). */
    width: z.number().int().positive().default(512),
    k: z.number().int().positive().default(10),
    /** JSAE Jacobian penalty weight λ (loss += λ·Σ|J|/k²), in the `lambdaNorm` convention. */
    lambda: z.number().nonnegative().default(16),
    /** `mean`: penalty averaged over tokens (λ comparable across batch sizes); `sum`: summed (reference). */
    lambdaNorm: z.enum(['mean', 'sum']).default('mean'),
    schedule: SaeScheduleSchema,
    corpus: z.string().default('builtin:brown'),
    seed: z.number().int().nonnegative().default(0),
    trainFraction: z.number().gt(0).lt(1).default(0.9),
    /** The evaluation protocol (evalProtocol.ts); absent on runs made before it (legacy batches). */
    evaluation: SaeEvaluationSchema.optional(),
  })
  .superRefine((c, ctx) => {
    if (IMPORT_ONLY_ARCHS.includes(c.arch))
      ctx.addIssue({
        code: 'custom',
        path: ['arch'],
        message: `'${c.arch}' SAEs can only be imported (SAELens folders), not trained here`,
      });
    const problem = archSetupProblem(c.arch, c.setup);
    if (problem) ctx.addIssue({ code: 'custom', path: ['setup'], message: problem });
    // TopK keeps k latents of the smallest SAE (a staircase's first position has `width`): more cannot fire.
    if (c.k > c.width)
      ctx.addIssue({
        code: 'custom',
        path: ['k'],
        message: `must be ≤ the width, ${c.width} latents${c.arch.startsWith('staircase') ? ' (the first staircase position)' : ''} (got ${c.k})`,
      });
  });
export type SaeTrainConfig = z.infer<typeof SaeTrainConfigSchema>;

/** What a stored SAE run holds: enough to rebuild its SAEs (trained here or imported). */
export type SaeStructure = Pick<SaeTrainConfig, 'lm' | 'arch' | 'setup' | 'width' | 'k' | 'seed'>;

/**
 * Importing SAEs in the SAELens layout (one folder per hook, e.g. what `scalar export` or SAELens wrote) as an SAE
 * run. `arch`, `setup`, `width` and `k` are read from the folders' cfg.json when the import is submitted.
 */
export const SaeImportConfigSchema = z.object({
  lm: z.string(),
  /** The folder holding one SAELens folder per hook of a complete setup. */
  source: z.string(),
  arch: z.enum(SAE_ARCHS),
  setup: z.enum(SAE_SETUPS),
  width: z.number().int().positive(),
  k: z.number().int().positive(),
  /** Imported weights have no initialisation; kept so every SAE run has a seed. */
  seed: z.number().int().nonnegative().default(0),
  /** Evaluation windows for the imported SAEs' metrics (as a quick training run's final evaluation). */
  corpus: z.string().default('builtin:brown'),
  trainFraction: z.number().gt(0).lt(1).default(0.9),
  evalBatches: z.number().int().positive().default(4),
  /** fixed-v1: windows per forward pass only; legacy: also the evaluation set (evalBatches × batchSize). */
  batchSize: z.number().int().positive().default(32),
  seqLen: z.number().int().positive().optional(),
  evaluation: SaeEvaluationSchema.optional(),
});
export type SaeImportConfig = z.infer<typeof SaeImportConfigSchema>;

export const SAE_PRESETS = {
  /** Minutes on two CPU cores: enough for explained variance well above 0 on the bundled model. */
  quick: SaeScheduleSchema.parse({
    steps: 1500,
    batchSize: 32,
    warmupSteps: 150,
    evalEvery: 250,
    evalBatches: 4,
  }),
  /** The paper schedule (SPEC §3.4): 7,500 steps of 128 × 128 tokens, warmup 750, cosine to 1e-4. */
  paper: SaeScheduleSchema.parse({
    steps: 7500,
    batchSize: 128,
    warmupSteps: 750,
    evalEvery: 500,
    evalBatches: 8,
  }),
} satisfies Record<string, SaeSchedule>;
export type SaePresetName = keyof typeof SAE_PRESETS;
