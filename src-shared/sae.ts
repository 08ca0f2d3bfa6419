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
  /**
   * Also write the resumable state every this many steps between evaluations (a killed run loses at most that
   * many steps); absent: at evaluations only. Results do not depend on it.
   */
  checkpointEvery: z.number().int().positive().optional(),
  /**
   * Micro-batches per optimizer step (gradient accumulation): the step's batchSize × seqLen tokens are processed
   * in gradAccum equal parts whose gradients are averaged (the JSAE penalty in `sum` mode is added up), so the
   * update equals that of the whole batch at once while the dense [tokens, F] buffers hold one part. Absent: 1
   * (so configs stored before the option read, and compare, as they were).
   */
  gradAccum: z.number().int().positive().optional(),
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

/**
 * Streamed activations (text sets of any size, e.g. for GPT-2): documents are read and tokenized as they are
 * needed, the frozen LM's activations at every hook fill a shuffle buffer of `bufferTokens` rows, and each
 * micro-batch draws its rows at random from it (seeded per step), so memory is bounded by the buffer whatever the
 * corpus size. The first `evalTokens` tokens of the text set (in whole windows) are the validation set and never
 * trained on; training windows follow them, epoch after epoch. Buffer and stream position are saved with the
 * resumable state.
 */
export const SaeStreamSchema = z.object({
  /** Activation rows (tokens) the buffer holds: bufferTokens × hooks × D × 4 bytes. */
  bufferTokens: z.number().int().positive(),
  /** Windows per forward pass of the LM that refills the buffer (also the evaluation's windows per pass). */
  forwardWindows: z.number().int().positive().default(8),
});
export type SaeStream = z.infer<typeof SaeStreamSchema>;

/** Why a streamed run cannot fill its micro-batches, or null: the buffer must hold a micro-batch and a refill. */
export function streamProblem(
  stream: SaeStream,
  schedule: { batchSize: number; gradAccum?: number },
  seqLen: number,
): string | null {
  const windows = schedule.batchSize / (schedule.gradAccum ?? 1);
  const micro = windows * seqLen;
  const refill = stream.forwardWindows * seqLen;
  if (stream.bufferTokens < micro + refill)
    return `must hold at least one micro-batch (${micro} tokens = ${windows} windows of ${seqLen}) plus one refill (${refill} tokens = ${stream.forwardWindows} windows): at least ${micro + refill} (got ${stream.bufferTokens})`;
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
    /** The blocks whose pairs are trained (sorted, distinct); absent: every block. */
    layers: z.array(z.number().int().nonnegative()).min(1).optional(),
    /** Streamed activations through a bounded shuffle buffer; absent: the whole corpus tokenized in memory. */
    stream: SaeStreamSchema.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.schedule.batchSize % (c.schedule.gradAccum ?? 1) !== 0)
      ctx.addIssue({
        code: 'custom',
        path: ['schedule', 'gradAccum'],
        message: `must divide the batch size, ${c.schedule.batchSize} windows, into equal micro-batches (got ${c.schedule.gradAccum})`,
      });
    else if (c.stream && c.schedule.seqLen !== undefined) {
      const problem = streamProblem(c.stream, c.schedule, c.schedule.seqLen);
      if (problem) ctx.addIssue({ code: 'custom', path: ['stream', 'bufferTokens'], message: problem });
    }
    if (c.layers && new Set(c.layers).size !== c.layers.length)
      ctx.addIssue({ code: 'custom', path: ['layers'], message: 'names a block twice' });
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
export type SaeStructure = Pick<SaeTrainConfig, 'lm' | 'arch' | 'setup' | 'width' | 'k' | 'seed' | 'layers'>;

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

/**
 * The paper's GPT-2 Small pairs: ffblock pairs at blocks 1, 6 and 11 (early, middle, last). SPEC §3.1 gives the
 * width (F 24,576 = ×32) and k (32); the blocks are the issue's reading of the paper.
 */
export const GPT2_PAPER_LAYERS = [1, 6, 11];

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
  /**
   * GPT-2 Small at the paper's settings (SPEC §1.3, §3.1, §3.4): the toy paper schedule (7,500 steps of 128 × 128
   * tokens, warmup 750, cosine 1e-3 → 1e-4) in 4 micro-batches of 4,096 tokens; with SAE_PRESET_SAES below.
   */
  'gpt2-paper': SaeScheduleSchema.parse({
    steps: 7500,
    batchSize: 128,
    seqLen: 128,
    gradAccum: 4,
    warmupSteps: 750,
    evalEvery: 500,
    checkpointEvery: 100,
  }),
  /**
   * GPT-2 Small on a laptop CPU (two cores, wasm): 150 steps of 8 × 128 tokens (153,600 tokens) of ×4 SAEs at the
   * paper's pairs, evaluated once at the end (an evaluation token costs a clean pass and one spliced pass per SAE):
   * 33 minutes on two cores shared with other jobs (docs/gpt2.md).
   */
  'gpt2-small-cpu': SaeScheduleSchema.parse({
    steps: 150,
    batchSize: 8,
    seqLen: 128,
    warmupSteps: 15,
    evalEvery: 150,
    checkpointEvery: 25,
    lr: 2e-3,
    minLr: 2e-4,
  }),
} satisfies Record<string, SaeSchedule>;
export type SaePresetName = keyof typeof SAE_PRESETS;

/** What a preset sets besides its schedule (options given win): SAE size, blocks and the activation stream. */
export interface SaePresetSae {
  width: number;
  k: number;
  setup?: SaeSetup;
  layers?: number[];
  stream?: SaeStream;
}

export const SAE_PRESET_SAES: Partial<Record<SaePresetName, SaePresetSae>> = {
  /** F 24,576 (×32 of D 768), k 32; a 65,536-token buffer (6 hooks × 768 × 4 B: 1.2 GB), 16 windows a refill. */
  'gpt2-paper': {
    width: 24_576,
    k: 32,
    setup: 'ffblock',
    layers: GPT2_PAPER_LAYERS,
    stream: { bufferTokens: 65_536, forwardWindows: 16 },
  },
  /** F 3,072 (×4), k 32; an 8,192-token buffer (150 MB at 6 hooks), 8 windows a refill. */
  'gpt2-small-cpu': {
    width: 3072,
    k: 32,
    setup: 'ffblock',
    layers: GPT2_PAPER_LAYERS,
    stream: { bufferTokens: 8192, forwardWindows: 8 },
  },
};
