/**
 * The evaluation protocol a training run's numbers come from (issue 14): which validation tokens the LM's
 * validation loss and an SAE run's metrics (mse, explained variance, l0, ΔCE, KL) are computed on.
 *
 * - `fixed-v1` (every run submitted since): a token set that does not depend on the batch size.
 *   LM: every token of the validation split (`valTokens: null`) or a stated budget, rounded up to whole
 *   windows spread evenly over the split. SAE: `evalTokens` validation tokens in whole windows spread evenly
 *   over the split. The batch size only sets how many windows one forward pass takes (memory), not the set.
 * - `legacy-batches` (runs made before): `evalBatches` batches of `batchSize` windows, so the set, and the
 *   number, changed with the batch size. A stored config without an `evaluation` field is such a run; its
 *   numbers are kept as they were and labelled with this protocol, never recomputed.
 */
import { z } from 'zod';

export const EVAL_PROTOCOL = 'fixed-v1';
export const LEGACY_EVAL_PROTOCOL = 'legacy-batches';

export const LmEvaluationSchema = z.object({
  protocol: z.literal(EVAL_PROTOCOL),
  /** Validation tokens scored; null = every token of the validation split (each scored once). */
  valTokens: z.number().int().positive().nullable(),
});
export type LmEvaluation = z.infer<typeof LmEvaluationSchema>;

export const SaeEvaluationSchema = z.object({
  protocol: z.literal(EVAL_PROTOCOL),
  /** Validation tokens the SAE metrics and ΔCE are measured on (whole windows, spread over the split). */
  evalTokens: z.number().int().positive(),
});
export type SaeEvaluation = z.infer<typeof SaeEvaluationSchema>;

/**
 * Default budgets per preset. The paper-scale LM presets score the whole split; the quick preset a stated budget
 * (the whole Brown split is ~600k tokens: ten evaluations of it would cost more than the quick run's training; 16,384
 * tokens, 4× the legacy set, keep evaluation near a tenth of it).
 * The SAE budgets are the token counts the presets evaluated on before (4 × 32 and 8 × 128 windows of 128).
 */
export const LM_VAL_TOKENS: Record<string, number | null> = { quick: 16_384 };
export const SAE_EVAL_TOKENS: Record<string, number> = {
  quick: 16_384,
  paper: 131_072,
  'paper-toy': 131_072,
  // GPT-2: the paper schedule's set; on a CPU a small one (each evaluation token costs one clean pass and one
  // spliced pass per SAE and for the compound).
  'gpt2-paper': 131_072,
  'gpt2-small-cpu': 1_024,
};
export const DEFAULT_SAE_EVAL_TOKENS = 16_384;

export function lmEvaluationFor(preset: string, valTokens?: number | null): LmEvaluation {
  return {
    protocol: EVAL_PROTOCOL,
    valTokens: valTokens !== undefined ? valTokens : (LM_VAL_TOKENS[preset] ?? null),
  };
}

export function saeEvaluationFor(preset: string, evalTokens?: number): SaeEvaluation {
  return {
    protocol: EVAL_PROTOCOL,
    evalTokens: evalTokens ?? SAE_EVAL_TOKENS[preset] ?? DEFAULT_SAE_EVAL_TOKENS,
  };
}

/** A run's protocol as stored or shown: the version name and the parameters that define its token set. */
export interface EvalProtocolInfo {
  protocol: string;
  params: Record<string, number | string | null>;
}

interface ConfigLike {
  evaluation?: { protocol: string; valTokens?: number | null; evalTokens?: number };
  schedule?: { evalBatches?: number; batchSize?: number; seqLen?: number };
  evalBatches?: number;
  batchSize?: number;
  seqLen?: number;
}

/** The protocol of a stored LM / SAE / import config; without an `evaluation` field it is the legacy one. */
export function evalProtocolOf(config: unknown): EvalProtocolInfo {
  const c = (config ?? {}) as ConfigLike;
  if (c.evaluation) {
    const { protocol, ...params } = c.evaluation;
    return { protocol, params: params as EvalProtocolInfo['params'] };
  }
  const s = c.schedule ?? c;
  return {
    protocol: LEGACY_EVAL_PROTOCOL,
    params: { evalBatches: s.evalBatches ?? null, batchSize: s.batchSize ?? null, seqLen: s.seqLen ?? null },
  };
}

/** One line for a person: `fixed-v1 (whole validation split)`, `legacy-batches (8 × 16 windows)`. */
export function describeEvalProtocol(info: EvalProtocolInfo): string {
  const p = info.params;
  if (info.protocol === LEGACY_EVAL_PROTOCOL)
    return `${info.protocol} (${p.evalBatches ?? '?'} batches × ${p.batchSize ?? '?'} windows; depends on the batch size)`;
  if ('valTokens' in p)
    return `${info.protocol} (${p.valTokens === null ? 'whole validation split' : `${p.valTokens} validation tokens`})`;
  if ('evalTokens' in p) return `${info.protocol} (${p.evalTokens} validation tokens)`;
  return info.protocol;
}

/**
 * A new submission without an `evaluation` field gets the current protocol with its preset's budget, so only runs
 * stored before the protocol existed read as legacy (a resumed run is launched from its stored config as it is).
 */
export function withEvalProtocol<
  S extends { kind: string; config: { evaluation?: unknown; preset?: string } | object },
>(spec: S): S {
  const c = spec.config as { evaluation?: unknown; preset?: string };
  if (c.evaluation) return spec;
  if (spec.kind === 'train-lm')
    return { ...spec, config: { ...spec.config, evaluation: lmEvaluationFor(c.preset ?? '') } };
  if (spec.kind === 'train-sae' || spec.kind === 'import-sae')
    return { ...spec, config: { ...spec.config, evaluation: saeEvaluationFor(c.preset ?? '') } };
  return spec;
}
