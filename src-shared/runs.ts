/**
 * Run-table contracts: the headline figures each kind of run shows in a table row, the query the table sends
 * (filtered, sorted, grouped and paged in SQL on the main side), and the row it gets back.
 */
import { z } from 'zod';

export const RunStatusSchema = z.enum([
  'queued',
  'running',
  'completed',
  'failed',
  'cancelled',
  'interrupted',
]);
export type RunStatusName = z.infer<typeof RunStatusSchema>;

/**
 * The few numbers that summarise a finished run, by kind. LM: validation loss. SAE set: mean explained variance
 * and L0 over its SAEs, and the compound ΔCE of splicing all of them in. SCALAR: mean absolute and relative AUC
 * over its pairs (SPEC §4.4). Absent keys mean "not this kind" or "not finished".
 */
export const HeadlineSchema = z.object({
  val_loss: z.number().nullable().optional(),
  explained_variance: z.number().nullable().optional(),
  l0: z.number().nullable().optional(),
  ce_loss_increase: z.number().nullable().optional(),
  auc_abs: z.number().nullable().optional(),
  auc_rel: z.number().nullable().optional(),
});
export type Headline = z.infer<typeof HeadlineSchema>;

export const HEADLINE_LABELS: Record<keyof Headline, string> = {
  val_loss: 'val loss',
  explained_variance: 'EV',
  l0: 'L0',
  ce_loss_increase: 'ΔCE',
  auc_abs: 'AUC abs',
  auc_rel: 'AUC rel',
};

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
function mean(values: unknown[]): number | null {
  const xs = values.map(num).filter((v): v is number => v !== null);
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Headline figures from a run's stored summary (the shapes the job runners write). */
export function headlineOf(kind: string, summary: unknown): Headline {
  const s = (summary ?? {}) as Record<string, unknown>;
  if (kind === 'lm') return { val_loss: num(s.valLoss) };
  if (kind === 'sae') {
    const saes = Array.isArray(s.saes) ? (s.saes as Record<string, unknown>[]) : [];
    return {
      explained_variance: mean(saes.map((x) => x.explained_variance)),
      l0: mean(saes.map((x) => x.l0)),
      ce_loss_increase: num(s.compoundCeLossIncrease),
    };
  }
  if (kind === 'scalar') {
    const pairs = ((s.eval_result_metrics as { pairs?: Record<string, unknown>[] } | undefined)?.pairs ??
      []) as Record<string, unknown>[];
    return {
      auc_abs: mean(pairs.map((p) => p.scalar_auc_abs)),
      auc_rel: mean(pairs.map((p) => p.scalar_auc_rel)),
    };
  }
  return {};
}

/** Architecture and setup of a job config (train-sae / import-sae specs), else null. */
export function archSetupOf(config: unknown): { arch: string | null; setup: string | null } {
  const c = (config as { config?: { arch?: unknown; setup?: unknown } } | null)?.config;
  return {
    arch: typeof c?.arch === 'string' ? c.arch : null,
    setup: typeof c?.setup === 'string' ? c.setup : null,
  };
}

export const RUN_SORT_KEYS = [
  'created',
  'name',
  'kind',
  'status',
  'seed',
  'backend',
  'wall',
  'arch',
  'setup',
  'val_loss',
  'explained_variance',
  'l0',
  'ce_loss_increase',
  'auc_abs',
  'auc_rel',
] as const;
export type RunSortKey = (typeof RUN_SORT_KEYS)[number];

export const RUN_GROUP_KEYS = ['arch', 'setup', 'seed', 'kind'] as const;
export type RunGroupKey = (typeof RUN_GROUP_KEYS)[number];

export const RunQuerySchema = z.object({
  /** Case-insensitive substring of the name, id, note, tags or any config value. */
  search: z.string().max(200).optional(),
  kinds: z.array(z.string().max(40)).max(20).optional(),
  statuses: z.array(RunStatusSchema).max(6).optional(),
  archs: z.array(z.string().max(40)).max(20).optional(),
  setups: z.array(z.string().max(40)).max(20).optional(),
  tag: z.string().max(60).optional(),
  /** Only the direct children of this run (lineage drill-down). */
  parentId: z.string().max(80).optional(),
  sort: z.enum(RUN_SORT_KEYS).default('created'),
  dir: z.enum(['asc', 'desc']).default('desc'),
  /** Rows come ordered by the group key first, so a table can draw a header where the value changes. */
  groupBy: z.enum(RUN_GROUP_KEYS).optional(),
  offset: z.number().int().min(0).default(0),
  limit: z.number().int().min(1).max(500).default(100),
});
export type RunQuery = z.input<typeof RunQuerySchema>;

export const RunRefSchema = z.object({
  id: z.string(),
  kind: z.string(),
  name: z.string(),
  status: RunStatusSchema,
});
export type RunRef = z.infer<typeof RunRefSchema>;

export const FacetSchema = z.array(z.object({ value: z.string(), count: z.number() }));

export const RUN_TAG_PATTERN = /^[\p{L}\p{N}_.:+-]{1,40}$/u;
export const RunTagSchema = z
  .string()
  .regex(RUN_TAG_PATTERN, 'a tag is 1–40 letters, digits or _ . : + - (no spaces)');
