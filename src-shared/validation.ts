/**
 * Planted-circuit validation of SCALAR's edge ranking (issue 15): the `validate-ranking` job's config, the
 * conditions its presets sweep, and the report it stores (read by the CLI and the app's validation page).
 *
 * A planted pair is an upstream and a downstream TopK SAE around a segment whose map between their latents is
 * a chosen sparse matrix M [F₀, F₁] (exact by construction), so the true edges {(i, j): M_ij ≠ 0} and their
 * strengths are known; each ranking method is scored by how well its top edges recover them.
 */
import { z } from 'zod';

/** One planted circuit's knobs. Every condition of a sweep is the baseline with some of these changed. */
export const PlantedKnobsSchema = z.object({
  /** TopK k of both SAEs; the upstream codes fire about 1.25·k latents per token, so TopK binds. */
  k: z.number().int().min(1).max(32),
  /** Fraction of (causal upstream, downstream) pairs that are planted edges. */
  density: z.number().gt(0).max(1),
  /** Fraction of downstream latents that are near-tie twins of another (its column × (1 − 0.01)). */
  nearTies: z.number().min(0).max(0.5),
  /** Upstream latents that fire often and strongly but have no edge (a zero row of M). */
  distractors: z.number().int().min(0).max(24),
  /** Std of Gaussian noise on the upstream activations (a code value is typically 0.5–2). */
  noise: z.number().min(0).max(2),
});
export type PlantedKnobs = z.infer<typeof PlantedKnobsSchema>;

export const BASELINE_KNOBS: PlantedKnobs = { k: 4, density: 0.1, nearTies: 0, distractors: 0, noise: 0 };

export interface ValidationCondition {
  /** Stable id (`baseline`, `k=12`, …) used as a key in the report. */
  id: string;
  /** Which knob this condition stresses (`baseline` for the reference condition). */
  knob: keyof PlantedKnobs | 'baseline';
  knobs: PlantedKnobs;
}

const condition = (knob: keyof PlantedKnobs, value: number): ValidationCondition => ({
  id: `${knob}=${value}`,
  knob,
  knobs: { ...BASELINE_KNOBS, [knob]: value },
});

export const BASELINE_CONDITION: ValidationCondition = {
  id: 'baseline',
  knob: 'baseline',
  knobs: BASELINE_KNOBS,
};

/** A ranking method: integrated gradients with a scaling and S points, or the seeded random baseline. */
export interface RankingMethod {
  id: string;
  kind: 'ig' | 'random';
  scaling?: 'reference' | 'textbook';
  steps?: number;
}

const ig = (scaling: 'reference' | 'textbook', steps: number): RankingMethod => ({
  id: `ig-${scaling === 'reference' ? 'ref' : 'text'}-S${steps}`,
  kind: 'ig',
  scaling,
  steps,
});
const RANDOM: RankingMethod = { id: 'random', kind: 'random' };

/** The method whose verdict heads the report: the published default (reference scaling, S = 4). */
export const DEFAULT_METHOD_ID = 'ig-ref-S4';

export interface ValidationPreset {
  conditions: ValidationCondition[];
  methods: RankingMethod[];
  /** Latents of each SAE (F₀ includes the distractors). */
  f0: number;
  f1: number;
  /** Tokens per window, and windows in the attribution and evaluation sets. */
  seqLen: number;
  attributionSeqs: number;
  evalSeqs: number;
  vocab: number;
}

export const VALIDATION_PRESETS: Record<'quick' | 'full', ValidationPreset> = {
  /** Minutes on two cores: one stressed value per knob, two integration-point counts. */
  quick: {
    conditions: [
      BASELINE_CONDITION,
      condition('k', 12),
      condition('nearTies', 0.5),
      condition('density', 0.4),
      condition('distractors', 12),
      condition('noise', 0.3),
    ],
    methods: [ig('reference', 1), ig('reference', 4), ig('textbook', 1), ig('textbook', 4), RANDOM],
    f0: 32,
    f1: 32,
    seqLen: 16,
    attributionSeqs: 24,
    evalSeqs: 12,
    vocab: 128,
  },
  /** Each knob at two stressed values, four S, bigger sets. */
  full: {
    conditions: [
      BASELINE_CONDITION,
      condition('k', 8),
      condition('k', 16),
      condition('nearTies', 0.25),
      condition('nearTies', 0.5),
      condition('density', 0.25),
      condition('density', 0.5),
      condition('distractors', 8),
      condition('distractors', 16),
      condition('noise', 0.15),
      condition('noise', 0.5),
    ],
    methods: [
      ig('reference', 1),
      ig('reference', 2),
      ig('reference', 4),
      ig('reference', 8),
      ig('textbook', 1),
      ig('textbook', 4),
      ig('textbook', 8),
      RANDOM,
    ],
    f0: 48,
    f1: 48,
    seqLen: 24,
    attributionSeqs: 64,
    evalSeqs: 24,
    vocab: 256,
  },
};
export type ValidationPresetName = keyof typeof VALIDATION_PRESETS;

export const ValidateRankingConfigSchema = z.object({
  preset: z.enum(['quick', 'full']).default('quick'),
  /** Independent planted circuits per condition and segment kind (seeds seed, seed+1, …). */
  seeds: z.number().int().min(1).max(16).default(2),
  seed: z.number().int().nonnegative().default(0),
});
export type ValidateRankingConfig = z.infer<typeof ValidateRankingConfigSchema>;

/** The two segment kinds the setups use: position-local (fflayer MLP) and position-mixing (tblock block). */
export const PLANTED_SEGMENTS = ['mlp', 'block'] as const;
export type PlantedSegment = (typeof PLANTED_SEGMENTS)[number];

/** Recovery of the planted edges by one ranking (a method, or the true order itself). */
export interface Recovery {
  /** Precision at N = |true edges| (equal to recall there: both are hits / |true edges|). */
  precision: number;
  recall: number;
  auroc: number;
  /** Spearman between the ranking's order and the true strength, over the true edges. */
  spearman: number;
  /** Areas under the ranking's SCALAR curve (mean KL vs N), linear and log₂ N axes. */
  aucAbs: number;
  aucLog2: number;
  /** aucLog2 / the true order's aucLog2 (1 = as good as the true order; > 1 worse). */
  curveRatio: number;
}

/** One planted circuit (condition × segment × seed) measured. */
export interface PlantedResult {
  condition: string;
  segment: PlantedSegment;
  seed: number;
  trueEdges: number;
  edges: number;
  grid: number[];
  /** Mean KL(full circuit ‖ subcircuit) per grid N, per ranking (methods and `true`). */
  curves: Record<string, number[]>;
  recovery: Record<string, Recovery>;
  seconds: number;
}

export type Verdict = 'holds' | 'degrades' | 'fails';

/** One method at one condition, averaged over seeds and segment kinds, with its change from the baseline. */
export interface ConditionSummary {
  condition: string;
  knob: string;
  method: string;
  /** Averaged over both segment kinds (`all`) or one of them. */
  segment: 'all' | PlantedSegment;
  /** Circuits averaged. */
  n: number;
  mean: Omit<Recovery, 'aucAbs' | 'aucLog2'>;
  /** Standard deviation over the circuits averaged (seeds × segments). */
  sd: Omit<Recovery, 'aucAbs' | 'aucLog2'>;
  /** mean − the baseline condition's mean (0 at the baseline). */
  delta: Omit<Recovery, 'aucAbs' | 'aucLog2'>;
  verdict: Verdict;
  /** The rules that fired, as computed sentences (`precision 0.41 < 0.5`). */
  reasons: string[];
}

export interface ValidationReport {
  config: ValidateRankingConfig;
  preset: ValidationPreset;
  thresholds: Record<string, number>;
  results: PlantedResult[];
  summary: ConditionSummary[];
  /** Conditions where the default method's verdict is not `holds`, worst first. */
  failures: { condition: string; method: string; segment: string; verdict: Verdict; reasons: string[] }[];
  backend: string;
  wallSeconds: number;
}
