/**
 * Validation token sets of the `fixed-v1` evaluation protocol (src-shared/evalProtocol.ts): chosen from the split
 * and a token budget only, never from the batch size, and walked in chunks of at most `chunk` windows so memory
 * stays bounded whatever the set's size.
 */
import { CorpusError } from './errors.ts';
import { buildBatch, type Batch, type TokenSplit } from './dataset.ts';

export interface EvalWindows {
  /** Start offsets within the split of windows of T+1 tokens (inputs the first T, targets the last T). */
  starts: Int32Array;
  /** Per window, the first position whose target is scored: 0, except a tail window that overlaps the one before. */
  scoreFrom: Int32Array;
  contextLength: number;
  /** Targets scored in all: Σ (T − scoreFrom). */
  tokens: number;
}

function needWindow(split: TokenSplit, T: number): void {
  if (!(Number.isInteger(T) && T > 0))
    throw new RangeError(`contextLength must be a positive integer, got ${T}`);
  if (split.tokens.length < T + 1)
    throw new CorpusError(
      'too-short',
      `The ${split.name === 'train' ? 'training' : 'validation'} split has ${split.tokens.length} tokens, fewer ` +
        `than one window of T+1 = ${T + 1}`,
    );
}

/**
 * The LM validation set. Whole split (`valTokens` null, or a budget that reaches it): windows tile the split from
 * its start so every target token (all but the first token of the split) is scored exactly once; the remainder
 * shorter than a window is scored from one more window that ends at the split's end, counting only its targets
 * not scored yet (they keep a full context). A smaller budget: ⌈valTokens / T⌉ of those tiles, spread evenly
 * over the split (the first at its start), so the set samples the whole split rather than its beginning.
 */
export function lmValidationWindows(split: TokenSplit, T: number, valTokens: number | null): EvalWindows {
  needWindow(split, T);
  const predictable = split.tokens.length - 1;
  const tiles = Math.floor(predictable / T);
  const tail = predictable - tiles * T;
  const wanted = valTokens === null ? Infinity : Math.ceil(valTokens / T);
  if (wanted >= tiles) {
    const n = tiles + (tail > 0 ? 1 : 0);
    const starts = new Int32Array(n);
    const scoreFrom = new Int32Array(n);
    for (let i = 0; i < tiles; i++) starts[i] = i * T;
    if (tail > 0) {
      starts[tiles] = predictable - T;
      scoreFrom[tiles] = T - tail;
    }
    return { starts, scoreFrom, contextLength: T, tokens: predictable };
  }
  const starts = new Int32Array(wanted);
  for (let k = 0; k < wanted; k++) starts[k] = Math.floor((k * tiles) / wanted) * T;
  return { starts, scoreFrom: new Int32Array(wanted), contextLength: T, tokens: wanted * T };
}

/**
 * ⌈tokens / T⌉ windows spread evenly over the split, the first at its start and the last at its end (the SAE
 * evaluation set). They do not overlap when the split holds that many disjoint windows; on a smaller split they
 * still spread evenly but overlap, rather than failing.
 */
export function spreadWindows(split: TokenSplit, T: number, tokens: number): EvalWindows {
  needWindow(split, T);
  const n = Math.max(1, Math.ceil(tokens / T));
  const last = split.tokens.length - T - 1;
  const starts = new Int32Array(n);
  for (let i = 0; i < n; i++) starts[i] = n === 1 ? 0 : Math.floor((i * last) / (n - 1));
  return { starts, scoreFrom: new Int32Array(n), contextLength: T, tokens: n * T };
}

/** The windows as batches of at most `chunk` windows, built one at a time (the last may be smaller). */
export function* evalChunks(
  split: TokenSplit,
  windows: EvalWindows,
  chunk: number,
): Generator<{ batch: Batch; scoreFrom: Int32Array }> {
  if (!(Number.isInteger(chunk) && chunk > 0))
    throw new RangeError(`chunk must be a positive integer, got ${chunk}`);
  for (let i = 0; i < windows.starts.length; i += chunk) {
    const starts = windows.starts.slice(i, i + chunk);
    yield {
      batch: buildBatch(split, starts, windows.contextLength),
      scoreFrom: windows.scoreFrom.slice(i, i + chunk),
    };
  }
}
