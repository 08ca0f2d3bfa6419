/**
 * `scalar reproduce` (issue 14, item 2): the paper's comparisons trained for several seeds, then every qualitative
 * claim of the paper (SPEC §4.5) checked against our numbers. This file holds the contract (config, the matrix
 * of SAEs trained, the published figures); claims/ evaluates them.
 */
import { z } from 'zod';
import { SAE_SETUPS, type SaeArch, type SaeSetup } from './sae.ts';

/** The setups in the paper's table order. */
export const REPRODUCE_SETUPS: SaeSetup[] = ['fflayer', 'ffblock', 'tblock'];

export const ReproduceConfigSchema = z.object({
  preset: z.enum(['quick', 'paper-toy']),
  /** The language model (default: the bundled one). */
  lm: z.string(),
  /** Seeds per architecture: a claim's interval is the t-interval of the seed mean, so 3 is the useful minimum. */
  seeds: z.number().int().min(1).max(20).default(3),
  seed: z.number().int().nonnegative().default(0),
  corpus: z.string().default('builtin:brown'),
  setups: z
    .array(z.enum(SAE_SETUPS))
    .min(1)
    .default([...REPRODUCE_SETUPS])
    // The paper's order (Table 1, 2, 3), whatever order they were given in; duplicates dropped.
    .transform((s) => REPRODUCE_SETUPS.filter((x) => s.includes(x))),
  /**
   * Also train the staircase variants of the paper's ablations at tblock (detach, shared bias, tied-all). They
   * are SAE runs only (their claims read reuse and ΔCE, not SCALAR), so they cost three SAE trainings per seed.
   */
  variants: z.boolean().default(true),
});
export type ReproduceConfig = z.infer<typeof ReproduceConfigSchema>;

export const ReproduceJobSchema = z.object({ kind: z.literal('reproduce'), config: ReproduceConfigSchema });
export type ReproduceJob = z.infer<typeof ReproduceJobSchema>;

export interface ReproduceCell {
  setup: SaeSetup;
  arch: SaeArch;
  /** Whether SCALAR runs on it (variants are judged by reuse and ΔCE only). */
  scalar: boolean;
  variant: boolean;
}

/** Everything the paper compares, in training order within a seed. TopK is every setup's baseline. */
export const REPRODUCE_MATRIX: ReproduceCell[] = [
  { setup: 'fflayer', arch: 'topk', scalar: true, variant: false },
  { setup: 'fflayer', arch: 'jsae', scalar: true, variant: false },
  { setup: 'ffblock', arch: 'topk', scalar: true, variant: false },
  { setup: 'ffblock', arch: 'staircase', scalar: true, variant: false },
  { setup: 'tblock', arch: 'topk', scalar: true, variant: false },
  { setup: 'tblock', arch: 'staircase', scalar: true, variant: false },
  { setup: 'tblock', arch: 'staircase-detach', scalar: false, variant: true },
  { setup: 'tblock', arch: 'staircase-shared-bias', scalar: false, variant: true },
  { setup: 'tblock', arch: 'staircase-tied-all', scalar: false, variant: true },
];

/**
 * Setups whose SCALAR also runs against the full circuit. JSAE's penalty costs the small `mlp_out` reconstruction,
 * which SCALAR against the model charges at every budget (docs/jsae.md): against the full circuit reconstruction
 * does not count, so the JSAE claim is judged both ways.
 */
export const CIRCUIT_TARGET_SETUPS: SaeSetup[] = ['fflayer'];

/** The cells a config trains. */
export function reproduceCells(config: Pick<ReproduceConfig, 'setups' | 'variants'>): ReproduceCell[] {
  return REPRODUCE_MATRIX.filter((c) => config.setups.includes(c.setup) && (config.variants || !c.variant));
}

/** Jobs a reproduction runs (before reuse): per seed and cell, the SAE, SCALAR, and SCALAR vs the circuit. */
export function reproduceStepCount(config: Pick<ReproduceConfig, 'setups' | 'variants' | 'seeds'>): number {
  const perSeed = reproduceCells(config).reduce(
    (n, c) => n + 1 + (c.scalar ? 1 : 0) + (c.scalar && CIRCUIT_TARGET_SETUPS.includes(c.setup) ? 1 : 0),
    0,
  );
  return config.seeds * perSeed;
}

/**
 * The paper's figures (SPEC §4.5: toy model, ×8 SAEs, k = 10), % reduction vs TopK per pair 0..3. Positive = sparser
 * than TopK. Table numbers as printed in arXiv 2511.07572.
 */
export const PUBLISHED = {
  /** Table 3 (tblock, Staircase vs TopK). */
  tblock: {
    abs: [6.95, -64.5, -107.42, -125.53],
    rel: [53.48, 72.6, 82.79, 88.83],
  },
  /** Table 2 (ffblock, Staircase vs TopK). */
  ffblock: {
    abs: [55.46, -1.53, -7.41, -10.33],
    rel: [77.78, 49.24, 46.5, 45.11],
  },
  /** Table 1 (fflayer, JSAE vs TopK, absolute; equal widths make relative the same). */
  fflayer: { abs: [-602.15, 24.5, 9.55, -14.07] },
  /** Headline relative improvements (abstract; the paper's own aggregation, see SPEC §4.4). */
  headline: {
    ffblock: { mean: 59.67, sd: 1.83 },
    tblock: { mean: 63.15, sd: 1.35 },
    fflayer: { mean: 8.54, sd: 0.38 },
  },
  /** Compound CE increase (nats), tblock ×8 SAEs; fflayer TopK pair 0.4468. */
  compoundCe: { topk: 0.5077, staircase: 0.4368, 'staircase-detach': 0.5706 } as Record<string, number>,
  /** Share of a staircase position's active latents from its own (new) chunk: "~25–45 %" (paper §4.3). */
  newChunkShare: [25, 45] as [number, number],
} as const;

/** The arch compared with TopK at each setup in the headline tables. */
export const CHALLENGER: Record<SaeSetup, SaeArch> = {
  fflayer: 'jsae',
  ffblock: 'staircase',
  tblock: 'staircase',
};

/** `scalar reproduce`'s options as the New run form writes its command line (src-shared/cliCommand.ts). */
export interface ReproduceCliOptions {
  preset: ReproduceConfig['preset'];
  seeds?: number;
  seed?: number;
  setups?: SaeSetup[];
  noVariants?: boolean;
  lm?: string;
  corpus?: string;
  name?: string;
}

/** The config a form's (or a command line's) options make; the same schema either way. */
export function reproduceConfigFromOptions(o: ReproduceCliOptions) {
  return ReproduceConfigSchema.safeParse({
    preset: o.preset,
    lm: o.lm,
    seeds: o.seeds,
    seed: o.seed,
    setups: o.setups,
    variants: !o.noVariants,
    ...(o.corpus !== undefined ? { corpus: o.corpus } : {}),
  });
}
