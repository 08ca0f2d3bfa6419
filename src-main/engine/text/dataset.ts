/**
 * Train/validation data as contiguous windows of T+1 tokens (SPEC §1.2): inputs are the first T, targets the last T.
 */
import { Rng } from '../random.ts';
import { CorpusError } from './errors.ts';
import type { TokenArray } from './tokenizer.ts';

export const DEFAULT_TRAIN_FRACTION = 0.9;

export interface TokenSplit {
  name: 'train' | 'val';
  /** A view into the full token stream (no copy). */
  tokens: TokenArray;
  /** Offset of `tokens[0]` in the full stream, so a window can be traced back to the corpus text. */
  start: number;
}

export interface TrainValSplit {
  train: TokenSplit;
  val: TokenSplit;
  trainFraction: number;
}

export interface Batch {
  /** Row-major [batchSize, contextLength]. */
  inputs: Int32Array;
  /** `inputs` shifted by one position: targets[b, t] is the token after inputs[b, t]. */
  targets: Int32Array;
  /** Start offset of each window within its split. */
  starts: Int32Array;
  batchSize: number;
  contextLength: number;
}

/** Length of the train split: the first `floor(n * fraction)` tokens (fraction resolved to 1e-6, exact in integers). */
export function trainLength(n: number, trainFraction = DEFAULT_TRAIN_FRACTION): number {
  if (!(trainFraction > 0 && trainFraction < 1)) {
    throw new RangeError(`trainFraction must be in (0, 1), got ${trainFraction}`);
  }
  const millionths = Math.round(trainFraction * 1e6);
  return Math.floor((n * millionths) / 1e6);
}

/** First `trainFraction` of the stream is train, the rest validation; both contiguous, no shuffling. */
export function splitTrainVal(tokens: TokenArray, trainFraction = DEFAULT_TRAIN_FRACTION): TrainValSplit {
  const cut = trainLength(tokens.length, trainFraction);
  return {
    train: { name: 'train', tokens: tokens.subarray(0, cut), start: 0 },
    val: { name: 'val', tokens: tokens.subarray(cut), start: cut },
    trainFraction,
  };
}

/** Smallest stream whose train and validation splits each hold one window of T+1 tokens. */
export function minTokensForContext(contextLength: number, trainFraction = DEFAULT_TRAIN_FRACTION): number {
  const w = contextLength + 1;
  let n = 2 * w;
  while (trainLength(n, trainFraction) < w || n - trainLength(n, trainFraction) < w) n++;
  return n;
}

export interface FitOptions {
  /** Named in the message, e.g. the corpus file name. */
  corpusName?: string;
  /** What one token is to the researcher: 'characters' for the ASCII tokenizer (default), 'tokens' for BPE. */
  unit?: 'characters' | 'tokens';
}

/** Throws a CorpusError saying how much text is needed when either split cannot hold a single window. */
export function assertSplitsFitContext(
  split: TrainValSplit,
  contextLength: number,
  options: FitOptions = {},
): void {
  const w = contextLength + 1;
  const short = [split.train, split.val].filter((s) => s.tokens.length < w);
  if (short.length === 0) return;
  const unit = options.unit ?? 'characters';
  const total = split.train.tokens.length + split.val.tokens.length;
  const needed = minTokensForContext(contextLength, split.trainFraction);
  const pct = Math.round(split.trainFraction * 100);
  const which = short
    .map(
      (s) =>
        `the ${s.name === 'train' ? `training split (first ${pct} %)` : `validation split (last ${100 - pct} %)`}` +
        ` has ${s.tokens.length}`,
    )
    .join(' and ');
  const subject = options.corpusName ? `Corpus "${options.corpusName}"` : 'The corpus';
  throw new CorpusError(
    'too-short',
    `${subject} is too short for context length T=${contextLength}: it needs at least ${needed} ${unit} ` +
      `but has ${total}. Each split must hold one window of T+1 = ${w} ${unit}; ${which}.`,
  );
}

/** `splitTrainVal` followed by the context check: the usual way to turn a token stream into training data. */
export function prepareSplits(
  tokens: TokenArray,
  contextLength: number,
  options: FitOptions & { trainFraction?: number } = {},
): TrainValSplit {
  const split = splitTrainVal(tokens, options.trainFraction ?? DEFAULT_TRAIN_FRACTION);
  assertSplitsFitContext(split, contextLength, options);
  return split;
}

/** Number of distinct window start offsets in a split. */
export function windowCount(split: TokenSplit, contextLength: number): number {
  return Math.max(0, split.tokens.length - contextLength);
}

/** `batchSize` windows at start offsets drawn uniformly from `rng` (advancing it). */
export function sampleBatch(split: TokenSplit, batchSize: number, contextLength: number, rng: Rng): Batch {
  const count = requireWindows(split, contextLength);
  const starts = new Int32Array(batchSize);
  for (let b = 0; b < batchSize; b++) starts[b] = rng.int(count);
  return buildBatch(split, starts, contextLength);
}

/**
 * The training batch of `step`, from its own generator derived from (seed, 'train-batch', step): a run resumed at
 * step s sees exactly the batches of an uninterrupted run, without replaying steps 0..s-1.
 */
export function batchForStep(
  split: TokenSplit,
  seed: number,
  step: number,
  batchSize: number,
  contextLength: number,
): Batch {
  return sampleBatch(split, batchSize, contextLength, Rng.derive(seed, 'train-batch', step));
}

/**
 * A fixed set of `nBatches * batchSize` windows spread evenly over the split, first at its start and last at its
 * end: the same every call, so validation losses compare across steps and runs. Windows do not overlap whenever
 * the split holds that many disjoint windows (nBatches * batchSize * (T+1) tokens); on a smaller split they are
 * still evenly spaced but overlap, rather than failing.
 */
export function evalBatches(
  split: TokenSplit,
  nBatches: number,
  batchSize: number,
  contextLength: number,
): Batch[] {
  const count = requireWindows(split, contextLength);
  const total = nBatches * batchSize;
  const last = count - 1;
  const batches: Batch[] = [];
  for (let n = 0; n < nBatches; n++) {
    const starts = new Int32Array(batchSize);
    for (let b = 0; b < batchSize; b++) {
      const i = n * batchSize + b;
      starts[b] = total === 1 ? 0 : Math.floor((i * last) / (total - 1));
    }
    batches.push(buildBatch(split, starts, contextLength));
  }
  return batches;
}

function requireWindows(split: TokenSplit, contextLength: number): number {
  if (!(Number.isInteger(contextLength) && contextLength > 0)) {
    throw new RangeError(`contextLength must be a positive integer, got ${contextLength}`);
  }
  const count = windowCount(split, contextLength);
  if (count === 0) {
    throw new CorpusError(
      'too-short',
      `The ${split.name === 'train' ? 'training' : 'validation'} split has ${split.tokens.length} tokens, fewer ` +
        `than one window of T+1 = ${contextLength + 1}`,
    );
  }
  return count;
}

/** The batch of the windows of T+1 tokens starting at `starts` (offsets within the split). */
export function buildBatch(split: TokenSplit, starts: Int32Array, contextLength: number): Batch {
  const batchSize = starts.length;
  const inputs = new Int32Array(batchSize * contextLength);
  const targets = new Int32Array(batchSize * contextLength);
  const src = split.tokens;
  for (let b = 0; b < batchSize; b++) {
    const s = starts[b];
    const row = b * contextLength;
    for (let t = 0; t < contextLength; t++) {
      inputs[row + t] = src[s + t];
      targets[row + t] = src[s + t + 1];
    }
  }
  return { inputs, targets, starts, batchSize, contextLength };
}
