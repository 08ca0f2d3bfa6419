export { CorpusError, type CorpusErrorCode } from './errors.ts';
export {
  ASCII_UNKNOWN_ID,
  ASCII_VOCAB_SIZE,
  asciiTokenizer,
  decodeAscii,
  encodeAscii,
  type TokenArray,
  type Tokenizer,
} from './tokenizer.ts';
export { asciiNormalise } from './normalise.ts';
export {
  GPT2_EOT,
  GPT2_EOT_ID,
  GPT2_VOCAB_SIZE,
  decodeGpt2,
  encodeGpt2,
  encodeGpt2Documents,
  gpt2TokenBytes,
  gpt2Tokenizer,
  tokenizerNamed,
} from './bpe.ts';
export {
  readTextSet,
  shuffleBuffered,
  textSetFiles,
  textSetWindows,
  tokenizePieces,
  tokenWindows,
  type TextPiece,
  type TextSetOptions,
  type TextSetWindowOptions,
  type WindowOptions,
} from './textSet.ts';
export { brownDataDir, brownDocuments, brownDocumentText, loadBrownText, type BrownText } from './brown.ts';
export {
  BUILTIN_CORPORA,
  countCodePoints,
  loadCorpus,
  loadTextFile,
  type BuiltinCorpusSpec,
  type Corpus,
  type CorpusSource,
} from './corpus.ts';
export { countInvalidUtf8, inspectBytes, type ByteReport } from './utf8.ts';
export {
  DEFAULT_TRAIN_FRACTION,
  assertSplitsFitContext,
  batchForStep,
  buildBatch,
  evalBatches,
  minTokensForContext,
  prepareSplits,
  sampleBatch,
  splitTrainVal,
  trainLength,
  windowCount,
  type Batch,
  type FitOptions,
  type TokenSplit,
  type TrainValSplit,
} from './dataset.ts';
export { evalChunks, lmValidationWindows, spreadWindows, type EvalWindows } from './evalWindows.ts';
export { tokenText, windowTexts } from './tokenText.ts';
