/**
 * Latent statistics, edges per latent, latent matching and the circuit graph (issue 10, engine side): the
 * `latent-stats` job's config and the Api payloads the circuit explorer and the latent page read.
 *
 * Conventions: `run` in the `latents.*` methods is an SAE run (the statistics live on its newest completed
 * `latents` child run; labels live on the SAE run itself); `run` in `graph.*` and `latents.edges` is a SCALAR
 * run and `pair` its pair label (`tblock:0`). Lists are paged (`offset`, `limit`) and small by default.
 */
import { z } from 'zod';

export const LatentStatsConfigSchema = z.object({
  /** The SAE run whose latents are described. */
  sae: z.string(),
  /** Evaluation text: the validation split of this corpus (default: the SAE run's own corpus). */
  corpus: z.string().default('builtin:brown'),
  trainFraction: z.number().gt(0).lt(1).default(0.9),
  /** Validation windows, spread evenly over the split. */
  seqs: z.number().int().positive().default(128),
  /** Window length; omitted = the LM's context. */
  seqLen: z.number().int().positive().optional(),
  batchSize: z.number().int().positive().default(16),
  /** Top-activating contexts kept per latent. */
  topContexts: z.number().int().min(1).max(100).default(20),
  /** Activation-quantile buckets of a latent's non-zero activations, and samples shown from each. */
  quantileBuckets: z.number().int().min(0).max(10).default(4),
  samplesPerBucket: z.number().int().min(0).max(10).default(2),
  /** Uniform reservoir of activations per latent that the quantile samples are drawn from. */
  reservoir: z.number().int().min(1).max(1024).default(64),
  /** Tokens shown before and after the activating token. */
  contextBefore: z.number().int().nonnegative().max(256).default(24),
  contextAfter: z.number().int().nonnegative().max(256).default(4),
  /** Log-spaced activation histogram: bins per decade from 10^histMinLog10 to 10^histMaxLog10 (+ under/overflow). */
  histMinLog10: z.number().int().default(-3),
  histMaxLog10: z.number().int().default(3),
  histBinsPerDecade: z.number().int().min(1).max(50).default(5),
  /** A latent active on more than this fraction of tokens is flagged dense. */
  denseThreshold: z.number().gt(0).lt(1).default(0.1),
  /** Top and bottom tokens of the direct logit effect. */
  logitTokens: z.number().int().min(0).max(100).default(10),
  /** JSAE pairs: strongest Jacobian partners kept per latent (both directions), and overall. */
  jacobianPartners: z.number().int().min(0).max(256).default(8),
  jacobianTop: z.number().int().min(0).max(1_000_000).default(2048),
  seed: z.number().int().nonnegative().default(0),
});
export type LatentStatsConfig = z.infer<typeof LatentStatsConfigSchema>;

/** How a latent sorts in `latents.list`. */
export const LatentSortSchema = z.enum(['id', 'freq', 'max', 'mean']);

const Label = z.object({ text: z.string(), note: z.string(), updatedAt: z.string() });
export type LatentLabel = z.infer<typeof Label>;

/** One latent in a list, a graph node or a tooltip. */
export const LatentRowSchema = z.object({
  id: z.number(),
  /** Fraction of evaluation tokens on which it is active (non-zero after TopK). */
  freq: z.number(),
  /** Mean over the tokens where it is active. */
  meanAct: z.number().nullable(),
  maxAct: z.number(),
  dead: z.boolean(),
  dense: z.boolean(),
  /** Staircase chunk (0 = the first n latents), or null for other architectures. */
  chunk: z.number().nullable(),
  /** Tokens it fires on most (the activating token of its top contexts, most frequent first). */
  topTokens: z.array(z.string()),
  label: z.string().nullable(),
});
export type LatentRow = z.infer<typeof LatentRowSchema>;

export const LatentContextSchema = z.object({
  /** Window index in the evaluation set, and the activating token's position in that window. */
  seq: z.number(),
  pos: z.number(),
  /** Activation at the activating token. */
  act: z.number(),
  /** Index of the activating token within `tokens`. */
  center: z.number(),
  /**
   * Each token's text as running text (decoded main-side, src-main/engine/text/tokenText.ts): a character split
   * across BPE tokens belongs to the token that finishes it ('' on the ones before); stray bytes read `\xNN`.
   */
  tokens: z.array(z.string()),
  ids: z.array(z.number()),
  /** This latent's activation at every token of the window. */
  acts: z.array(z.number()),
});
export type LatentContext = z.infer<typeof LatentContextSchema>;

export const LogitTokenSchema = z.object({ id: z.number(), token: z.string(), value: z.number() });

export const StatsRunRefSchema = z.object({
  id: z.string(),
  status: z.string(),
  progress: z.record(z.string(), z.unknown()).nullable(),
  error: z.string().nullable(),
});

export const LatentHookSchema = z.object({
  hook: z.string(),
  width: z.number(),
  /** Staircase chunk size and position (null / 0 otherwise). */
  chunk: z.number().nullable(),
  position: z.number(),
  tokens: z.number(),
  dead: z.number(),
  dense: z.number(),
  /** Whether direct logit effects exist for this hook, and why not when they don't. */
  logitEffects: z.boolean(),
  logitNote: z.string(),
  /** Histogram over latents of log10(frequency) (SAELens' feature-density plot); dead latents counted apart. */
  density: z.object({ edges: z.array(z.number()), counts: z.array(z.number()) }),
});

export const LatentHooksResultSchema = z.object({
  run: z.string(),
  arch: z.string().nullable(),
  setup: z.string().nullable(),
  /** The newest latents run of this SAE run (any status), or null when none was ever started. */
  statsRun: StatsRunRefSchema.nullable(),
  /** Hooks with statistics (empty until a latents run completed). */
  hooks: z.array(LatentHookSchema),
  /** Pairs with stored JSAE Jacobian entries. */
  jacobianPairs: z.array(z.object({ pair: z.string(), up: z.string(), down: z.string() })),
  /** Set when the SAE run was imported without its weights: why statistics cannot be computed here. */
  withoutWeights: z.string().nullable().optional(),
});

export const LatentListResultSchema = z.object({
  total: z.number(),
  offset: z.number(),
  rows: z.array(LatentRowSchema),
});

export const JacobianEntrySchema = z.object({
  /** The partner latent (downstream latent for an upstream one, and the other way round). */
  latent: z.number(),
  /** Mean over evaluation tokens of |J| and of J (zero where either latent is inactive). */
  meanAbs: z.number(),
  mean: z.number(),
  rank: z.number(),
  label: z.string().nullable(),
});

export const LatentMatchRefSchema = z.object({
  run: z.string(),
  latent: z.number(),
  cos: z.number(),
  label: z.string().nullable(),
});

export const LatentDetailSchema = z.object({
  run: z.string(),
  statsRun: z.string(),
  hook: z.string(),
  id: z.number(),
  width: z.number(),
  position: z.number(),
  stats: LatentRowSchema.omit({ label: true, id: true }).extend({ count: z.number(), tokens: z.number() }),
  label: Label.nullable(),
  /** Log-spaced bins: counts[b] tokens had an activation in [edges[b], edges[b+1]); edges[0] = 0, last = ∞. */
  histogram: z.object({ edges: z.array(z.number()), counts: z.array(z.number()) }),
  topContexts: z.array(LatentContextSchema),
  /** Activation-quantile buckets (lowest first) with their approximate activation range and samples. */
  quantiles: z.array(
    z.object({ bucket: z.number(), lo: z.number(), hi: z.number(), contexts: z.array(LatentContextSchema) }),
  ),
  logits: z.object({
    available: z.boolean(),
    note: z.string(),
    top: z.array(LogitTokenSchema),
    bottom: z.array(LogitTokenSchema),
  }),
  /** JSAE pairs this latent is in: its strongest Jacobian partners. */
  jacobian: z.array(
    z.object({
      pair: z.string(),
      /** 'down': this latent is upstream, partners are downstream latents (a row of J); 'up': the other way. */
      direction: z.enum(['up', 'down']),
      partnerHook: z.string(),
      entries: z.array(JacobianEntrySchema),
    }),
  ),
  /** Stored matches of this latent in other SAE runs at the same hook. */
  matches: z.array(LatentMatchRefSchema),
  /** SCALAR runs of this SAE run and the pairs this hook is in (where `latents.edges` has edges). */
  scalarRuns: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      pairs: z.array(
        z.object({ pair: z.string(), direction: z.enum(['up', 'down']), partnerHook: z.string() }),
      ),
    }),
  ),
});
export type LatentDetail = z.infer<typeof LatentDetailSchema>;

export const LatentEdgesResultSchema = z.object({
  pair: z.string(),
  /** The SAE run and hook of the partner latents. */
  partnerRun: z.string(),
  partnerHook: z.string(),
  /** Stored edges of this latent in this direction (the pair keeps its top `keepEdges` edges). */
  total: z.number(),
  offset: z.number(),
  rows: z.array(
    z.object({
      latent: z.number(),
      score: z.number(),
      /** Rank of the edge among all edges of the pair (0 = strongest). */
      rank: z.number(),
      /** Rank among this latent's edges in this direction (0 = strongest). */
      localRank: z.number(),
      freq: z.number().nullable(),
      label: z.string().nullable(),
    }),
  ),
  storedEdges: z.number(),
  fullEdges: z.number().nullable(),
});

export const GraphNodeSchema = z.object({
  id: z.number(),
  freq: z.number().nullable(),
  maxAct: z.number().nullable(),
  chunk: z.number().nullable(),
  label: z.string().nullable(),
  topTokens: z.array(z.string()),
});

export const GraphSideSchema = z.object({
  /** SAE run and hook of this column of the graph. */
  run: z.string(),
  hook: z.string(),
  width: z.number().nullable(),
  nodes: z.array(GraphNodeSchema),
});

export const GraphEdgesResultSchema = z.object({
  pair: z.string(),
  /** Edges by rank from `offset`: columns i (upstream latent), j (downstream latent), score. */
  offset: z.number(),
  edges: z.object({ i: z.array(z.number()), j: z.array(z.number()), score: z.array(z.number()) }),
  storedEdges: z.number(),
  fullEdges: z.number().nullable(),
  /** Node info for the latents in these edges (empty when `nodes: false`). */
  up: GraphSideSchema,
  down: GraphSideSchema,
});

export const GraphCurveResultSchema = z.object({
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
  storedEdges: z.number(),
  fullEdges: z.number().nullable(),
  up: z.string().nullable(),
  down: z.string().nullable(),
});

export const JacobianMapResultSchema = z.object({
  pair: z.string(),
  up: z.string(),
  down: z.string(),
  entries: z.array(
    z.object({ i: z.number(), j: z.number(), meanAbs: z.number(), mean: z.number(), rank: z.number() }),
  ),
});

export const MatchResultSchema = z.object({
  runA: z.string(),
  runB: z.string(),
  hook: z.string(),
  /** `hungarian` (optimal one-to-one) or `greedy` (documented approximation for wide SAEs). */
  method: z.string(),
  widthA: z.number(),
  widthB: z.number(),
  matched: z.number(),
  meanCos: z.number(),
  total: z.number(),
  offset: z.number(),
  rows: z.array(
    z.object({
      a: z.number(),
      b: z.number(),
      cos: z.number(),
      labelA: z.string().nullable(),
      labelB: z.string().nullable(),
    }),
  ),
});

const paging = {
  offset: z.number().int().min(0).default(0),
  limit: z.number().int().min(1).max(500).default(50),
};

/** Api entries (merged into ApiMethods in api.ts). */
export const LatentApiMethods = {
  /** Queues the latent-stats job for an SAE run (returns the queued or already queued/running latents run). */
  'latents.compute': {
    params: z.object({
      run: z.string(),
      /** Start a new run even when one completed before. */
      force: z.boolean().default(false),
      config: LatentStatsConfigSchema.omit({ sae: true }).partial().optional(),
    }),
    result: z.object({ id: z.string(), status: z.string(), created: z.boolean() }),
  },
  'latents.hooks': { params: z.object({ run: z.string() }), result: LatentHooksResultSchema },
  'latents.list': {
    params: z.object({
      run: z.string(),
      hook: z.string(),
      sort: LatentSortSchema.default('id'),
      desc: z.boolean().default(false),
      /** Case-insensitive substring of the label (or of the note). */
      search: z.string().max(200).optional(),
      filter: z.enum(['all', 'alive', 'dead', 'dense', 'labelled']).default('all'),
      ids: z.array(z.number().int().min(0)).max(5000).optional(),
      ...paging,
    }),
    result: LatentListResultSchema,
  },
  'latents.get': {
    params: z.object({ run: z.string(), hook: z.string(), id: z.number().int().min(0) }),
    result: LatentDetailSchema,
  },
  'latents.edges': {
    params: z.object({
      run: z.string(),
      pair: z.string(),
      latent: z.number().int().min(0),
      /** 'up': upstream partners of a downstream latent; 'down': downstream partners of an upstream latent. */
      direction: z.enum(['up', 'down']),
      ...paging,
    }),
    result: LatentEdgesResultSchema,
  },
  /** Sets a latent's label text and, when given, its note (an empty one removes it); null when neither is left. */
  'latents.label': {
    params: z.object({
      run: z.string(),
      hook: z.string(),
      id: z.number().int().min(0),
      text: z.string().max(500),
      note: z.string().max(20_000).optional(),
    }),
    result: Label.nullable(),
  },
  /** One-to-one matching of two SAE runs' latents at one hook by decoder cosine (computed once, then stored). */
  'latents.matches': {
    params: z.object({
      runA: z.string(),
      runB: z.string(),
      hook: z.string(),
      sort: z.enum(['a', 'cos']).default('a'),
      desc: z.boolean().default(false),
      /** Only the match of this latent of run A. */
      latent: z.number().int().min(0).optional(),
      ...paging,
    }),
    result: MatchResultSchema,
  },
  /** The top-ranked edges of a SCALAR pair: ranks [offset, offset + n), never more than 65,536 at once. */
  'graph.edges': {
    params: z.object({
      run: z.string(),
      pair: z.string(),
      n: z.number().int().min(0).max(65_536),
      offset: z.number().int().min(0).default(0),
      nodes: z.boolean().default(true),
    }),
    result: GraphEdgesResultSchema,
  },
  /** One pair's SCALAR curve (N → mean KL with CI) and how many edges are stored for the slider. */
  'graph.curve': {
    params: z.object({ run: z.string(), pair: z.string(), target: z.string().optional() }),
    result: GraphCurveResultSchema,
  },
  /** The largest stored JSAE Jacobian entries of a pair (heat map). */
  'graph.jacobian': {
    params: z.object({
      run: z.string(),
      pair: z.string(),
      n: z.number().int().min(1).max(65_536).default(1024),
    }),
    result: JacobianMapResultSchema,
  },
} as const;

// ---------------------------------------------------------------------------------------------------------
// Rows the latent-stats job produces (worker → JobManager → store); plain data, typed arrays where large.
// ---------------------------------------------------------------------------------------------------------

export interface LatentHookRow {
  hook: string;
  width: number;
  /** Staircase chunk size, or null. */
  chunk: number | null;
  position: number;
  k: number;
  tokens: number;
  dead: number;
  dense: number;
  tokenizer: string;
  logitEffects: boolean;
  logitNote: string;
  /** Histogram bins (see LatentStatsConfig) and anything else worth keeping (config, timings). */
  histMinLog10: number;
  histMaxLog10: number;
  histBinsPerDecade: number;
  meta: Record<string, unknown>;
}

export interface LatentSummaryRow {
  latent: number;
  count: number;
  freq: number;
  meanAct: number | null;
  maxAct: number;
  dead: boolean;
  dense: boolean;
  chunk: number | null;
  topTokens: string[];
  /** Histogram counts from bin `histFirst` on (leading and trailing empty bins trimmed). */
  histFirst: number;
  hist: number[];
}

export interface LatentContextRow {
  kind: 'top' | 'quantile';
  index: number;
  bucket: number | null;
  /** Quantile samples: the bucket's approximate activation range. */
  bucketLo: number | null;
  bucketHi: number | null;
  act: number;
  seq: number;
  pos: number;
  /** The window: `len` tokens of sequence `seq` from position `start` (ids in the run's stored windows). */
  start: number;
  len: number;
  /** The latent's activation at every token of the window. */
  acts: Float32Array;
}

/** All stored contexts of one latent (top contexts by rank, then quantile samples). */
export interface LatentContextsRow {
  latent: number;
  contexts: LatentContextRow[];
}

/** Direct logit effects of one latent: the largest and the most negative, strongest first. */
export interface LatentLogitRow {
  latent: number;
  topIds: Int32Array;
  topValues: Float32Array;
  bottomIds: Int32Array;
  bottomValues: Float32Array;
}

export interface JacobianRows {
  pair: string;
  up: string;
  down: string;
  tokens: number;
  i: Int32Array;
  j: Int32Array;
  meanAbs: Float32Array;
  mean: Float32Array;
  rank: Int32Array;
}

/** One message of rows; `reset` clears everything a previous (interrupted) attempt of the run wrote. */
export interface LatentRowsBatch {
  reset?: boolean;
  /** The evaluation windows (token ids [seqs, seqLen]) that contexts point into. */
  windows?: { seqs: number; seqLen: number; tokenizer: string; ids: Int32Array };
  hooks?: LatentHookRow[];
  summaries?: { hook: string; rows: LatentSummaryRow[] };
  contexts?: { hook: string; rows: LatentContextsRow[] };
  logits?: { hook: string; rows: LatentLogitRow[] };
  jacobian?: JacobianRows;
}
