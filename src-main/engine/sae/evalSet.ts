/**
 * The SAE evaluation set of a run's config (src-shared/evalProtocol.ts): fixed-v1 takes `evalTokens` validation
 * tokens in whole windows spread over the split, cut into batches of at most `batchSize` windows (memory only, so
 * the set and the figures do not change with the batch size); a legacy config (no `evaluation`, a run made before
 * the protocol) keeps its `evalBatches × batchSize` windows.
 */
import { evalProtocolOf, type EvalProtocolInfo } from '../../../src-shared/evalProtocol.ts';
import { evalBatches, evalChunks, spreadWindows, type Batch, type TokenSplit } from '../text/index.ts';

export interface SaeEvalSet {
  batches: Batch[];
  info: EvalProtocolInfo & { tokens: number; windows: number; seqLen: number };
}

/** `stored`: the config as stored, which names the protocol (defaults to `config`). */
export function saeEvalSet(
  config: { evaluation?: { protocol: 'fixed-v1'; evalTokens: number }; evalBatches: number },
  val: TokenSplit,
  batchSize: number,
  seqLen: number,
  stored: unknown = config,
): SaeEvalSet {
  if (config.evaluation) {
    const w = spreadWindows(val, seqLen, config.evaluation.evalTokens);
    return {
      batches: Array.from(evalChunks(val, w, batchSize), (c) => c.batch),
      info: { ...evalProtocolOf(stored), tokens: w.tokens, windows: w.starts.length, seqLen },
    };
  }
  const batches = evalBatches(val, config.evalBatches, batchSize, seqLen);
  const windows = config.evalBatches * batchSize;
  return { batches, info: { ...evalProtocolOf(stored), tokens: windows * seqLen, windows, seqLen } };
}
