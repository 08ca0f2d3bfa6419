/**
 * Preflight of a streamed SAE training run (config `stream`, docs/gpt2.md): the buffer holds a micro-batch and a
 * refill and fits the machine, the text set's files are readable and its head holds the validation windows and
 * one training window after them (reading only that much); and the refusal of a folder or JSONL set without
 * streaming. Used by preflight.ts, which pins the returned files.
 */
import fs from 'node:fs';
import type { GptConfig } from '../../src-shared/lm.ts';
import { streamProblem, type SaeTrainConfig } from '../../src-shared/sae.ts';
import { asciiTokenizer, textSetFiles, type Tokenizer } from '../engine/text/index.ts';
import { WindowStream } from '../engine/text/windowStream.ts';
import { InputError } from '../userErrors.ts';

const GiB = 1024 ** 3;
const fmtBytes = (b: number) =>
  b >= GiB ? `${(b / GiB).toFixed(1)} GiB` : `${(b / 1024 ** 2).toFixed(0)} MiB`;

/** Runs `fn`, turning any error into an InputError. */
function asInput<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError((err as Error).message);
  }
}

function isFolder(spec: string): boolean {
  const p = spec.startsWith('file:') ? spec.slice('file:'.length) : spec;
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** A folder or JSONL text set is read as a stream: without `stream` it is refused, saying how to stream it. */
export function refuseUnstreamedTextSet(corpus: string): void {
  const spec = corpus.trim();
  if (isFolder(spec) || spec.endsWith('.jsonl'))
    throw new InputError(
      `${spec} is a ${spec.endsWith('.jsonl') ? 'JSONL file' : 'folder'}: such text sets are read as a stream; give --buffer-tokens N (or a gpt2-* preset) to stream the activations`,
    );
}

/** Checks a streamed run's buffer and text set; returns the text set's files (to pin). */
export function checkStreamedInputs(
  c: SaeTrainConfig,
  lm: GptConfig,
  hooks: number,
  seqLen: number,
  tokenizer: Tokenizer | undefined,
  totalMemory: number,
): string[] {
  const stream = c.stream!;
  const problem = streamProblem(stream, c.schedule, seqLen);
  if (problem) throw new InputError(`option --buffer-tokens ${problem}`);
  // The buffer is host memory, allocated once, beside the step's and the refill's.
  const rowBytes = hooks * lm.dModel * 4;
  if (stream.bufferTokens * rowBytes > totalMemory / 2)
    throw new InputError(
      `the activation buffer of ${stream.bufferTokens} tokens at ${hooks} hooks of width ${lm.dModel} takes ${fmtBytes(stream.bufferTokens * rowBytes)}, more than half of this machine's ${fmtBytes(totalMemory)}; lower option --buffer-tokens to at most about ${Math.floor(totalMemory / 2 / rowBytes)}`,
    );
  const spec = c.corpus;
  const files = asInput(() => textSetFiles(spec));
  const evalTokens = c.evaluation?.evalTokens ?? c.schedule.evalBatches * c.schedule.batchSize * seqLen;
  const V = Math.ceil(evalTokens / seqLen);
  const windows = asInput(() => new WindowStream(spec, tokenizer ?? asciiTokenizer));
  for (let i = 0; i < V; i++)
    if (!asInput(() => windows.next(seqLen + 1)))
      throw new InputError(
        `text set ${spec} holds only ${i} windows of ${seqLen + 1} tokens, fewer than the ${V} its validation set takes (--eval-tokens ${evalTokens}); lower --eval-tokens or use a larger text set`,
      );
  if (!asInput(() => windows.next(seqLen)))
    throw new InputError(
      `text set ${spec} has no window of ${seqLen} tokens left for training after its ${V} validation windows; lower --eval-tokens or use a larger text set`,
    );
  return files;
}
