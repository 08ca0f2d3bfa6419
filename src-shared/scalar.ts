/** SCALAR evaluation contracts (SPEC §4): what is measured on a trained SAE run, and the presets. */
import { z } from 'zod';

/** Edge-budget grids (engine/scalar/curve.ts gridFor). */
export const SCALAR_GRIDS = ['paper', 'gpt2-paper', 'full'] as const;
export type ScalarGrid = (typeof SCALAR_GRIDS)[number];

export const ScalarEvalConfigSchema = z.object({
  preset: z.string().default('paper'),
  /** The SAE run whose pairs are measured (its LM comes with it). */
  sae: z.string(),
  /** Pair indices (default: every pair of the setup). */
  pairs: z.array(z.number().int().nonnegative()).optional(),
  /** Attribution set: validation windows (paper: 576 × 128). */
  attributionSeqs: z.number().int().positive().default(576),
  /** Evaluation set: validation windows disjoint from the attribution set (paper: 50 × 128). */
  evalSeqs: z.number().int().positive().default(50),
  /** Window length; omitted = the LM's context. */
  seqLen: z.number().int().positive().optional(),
  /** Integration points S (α_s = s/(S−1)); reference default 4, the paper used 5. */
  steps: z.number().int().min(1).default(4),
  /**
   * The integration point when S = 1, where s/(S−1) is undefined: 1 (default; the gradient at the SAE codes
   * themselves, as every run before this option) or 0 (the reference code's linspace(0, 1, 1): at the baseline).
   */
  singleStepAlpha: z.number().int().min(0).max(1).default(1),
  /** `reference`: c = ‖z₀‖₂/S (published numbers); `textbook`: c = z₀ᵢ/S. */
  scaling: z.enum(['reference', 'textbook']).default('reference'),
  /** Edge ranking: integrated-gradient scores, or a seeded random permutation (baseline curve). */
  ranking: z.enum(['ig', 'random']).default('ig'),
  /**
   * `paper`: E_max = 2¹⁸ (35 budgets, the toy model's grid); `gpt2-paper`: E_max = 10⁶ (the paper's GPT-2 range
   * 10⁰…10⁶, 36 budgets: the deduplicated integers of logspace(0, 6, 37)); `full`: E_max = F₀·F₁ (curves reach the
   * full circuit).
   */
  grid: z.enum(SCALAR_GRIDS).default('paper'),
  /** KL target: the full model (default) or the full circuit (the paper's "pure computational sparsity"). */
  target: z.enum(['model', 'circuit']).default('model'),
  /** ReLU before the subcircuit's final TopK (the reference has none). */
  relu: z.boolean().default(false),
  bootstrap: z.number().int().nonnegative().default(1000),
  /** Top-ranked edges kept in the store per pair (for the circuit explorer). */
  keepEdges: z.number().int().nonnegative().default(65_536),
  corpus: z.string().default('builtin:brown'),
  seed: z.number().int().nonnegative().default(0),
  /**
   * Memory bound of one pair's computation in MB (the model and SAE weights included): attribution batches,
   * score blocks, evaluation chunks and segment passes are sized to stay under it; what cannot fit at the
   * smallest chunk is refused by name. Omitted: 60 % of the machine's memory, recorded with the run.
   */
  maxMemoryMb: z.number().int().positive().optional(),
});
export type ScalarEvalConfig = z.infer<typeof ScalarEvalConfigSchema>;

export const SCALAR_PRESETS = {
  /** The paper's settings (SPEC §4.2–§4.4). */
  paper: {},
  /** Minutes for a whole pipeline on two cores: fewer windows, same grid. */
  quick: { attributionSeqs: 24, evalSeqs: 8, bootstrap: 200 },
  /**
   * GPT-2 Small as the paper measured it (issue 12): ffblock pairs at blocks 1, 6 and 11, edge budgets
   * 10⁰…10⁶, three prompts. We read "three prompts" as three validation windows of 128 tokens for the
   * evaluation set and for the attribution set (the paper's toy window length; GPT-2's context is 1,024).
   */
  'gpt2-paper': { pairs: [1, 6, 11], grid: 'gpt2-paper', attributionSeqs: 3, evalSeqs: 3, seqLen: 128 },
} satisfies Record<string, Partial<ScalarEvalConfig>>;
export type ScalarPresetName = keyof typeof SCALAR_PRESETS;
