/**
 * Text sets: documents streamed from local files in bounded memory (never a whole file or set in one string),
 * turned into token windows, optionally shuffled through a bounded buffer.
 *
 * A text set is named by a spec string:
 *   - `builtin:brown`: the Brown corpus, one document per sample file (brown.ts);
 *   - a `.jsonl` file: one document per non-blank line, a JSON object with a string field `text`;
 *   - any other file: plain UTF-8 text, one document, read in pieces cut after a newline between two non-space
 *     characters (where neither tokenizer's pieces can straddle the cut, so the tokens equal those of the whole
 *     text);
 *   - a folder: its `.txt`, `.text`, `.md` (plain) and `.jsonl` files, recursively, in path order (hidden entries
 *     skipped).
 * A `file:` prefix is accepted. Documents are separated by the tokenizer's separator (`<|endoftext|>` for GPT-2)
 * or, for the character tokenizer, a blank line (as the built-in corpus joins its documents).
 */
import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';

import { Rng } from '../random.ts';
import { brownDocuments } from './brown.ts';
import { CorpusError } from './errors.ts';
import type { TokenArray, Tokenizer } from './tokenizer.ts';
import { inspectBytes } from './utf8.ts';

/** A stretch of text; `documentStart` is false for a later piece of the same document. */
export interface TextPiece {
  text: string;
  documentStart: boolean;
  /** Where it came from (file, or file:line for JSONL), for messages. */
  source: string;
}

export interface TextSetOptions {
  /** Bytes read from a file at a time (default 1 MiB); a plain-text piece is about this long. */
  readBytes?: number;
}

const PLAIN_EXTENSIONS = new Set(['.txt', '.text', '.md']);
const DEFAULT_READ_BYTES = 1 << 20;

/** The files a spec names (absolute paths, in reading order); `builtin:brown` gives []. Throws when unusable. */
export function textSetFiles(spec: string): string[] {
  const trimmed = spec.trim();
  if (trimmed.startsWith('builtin:')) {
    if (trimmed !== 'builtin:brown')
      throw new CorpusError(
        'unknown-builtin',
        `Unknown built-in text set "${trimmed}"; available: builtin:brown`,
      );
    return [];
  }
  const p = resolve(trimmed.startsWith('file:') ? trimmed.slice('file:'.length) : trimmed);
  let st;
  try {
    st = statSync(p);
  } catch {
    throw new CorpusError('missing', `Text set not found: ${p}`);
  }
  if (st.isFile()) return [p];
  if (!st.isDirectory()) throw new CorpusError('unreadable', `Text set is neither a file nor a folder: ${p}`);
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('.')) continue;
      const full = join(dir, name);
      const s = statSync(full);
      if (s.isDirectory()) walk(full);
      else if (s.isFile() && (PLAIN_EXTENSIONS.has(extname(name)) || extname(name) === '.jsonl'))
        files.push(full);
    }
  };
  walk(p);
  if (files.length === 0)
    throw new CorpusError(
      'empty',
      `Folder ${p} holds no text files (.txt, .text, .md as plain text, .jsonl with a "text" field)`,
    );
  return files;
}

/** The pieces of a text set in order. */
export function* readTextSet(spec: string, options: TextSetOptions = {}): Generator<TextPiece> {
  const files = textSetFiles(spec);
  if (files.length === 0) {
    for (const doc of brownDocuments())
      yield { text: doc.text, documentStart: true, source: `brown/${doc.name}` };
    return;
  }
  let any = false;
  for (const file of files) {
    const pieces = extname(file) === '.jsonl' ? readJsonl(file, options) : readPlain(file, options);
    for (const piece of pieces) {
      any = true;
      yield piece;
    }
  }
  if (!any) throw new CorpusError('empty', `Text set ${spec} holds no text`);
}

/** UTF-8 text of a file in chunks of about `readBytes` (a multi-byte character is never split). */
function* fileChunks(file: string, readBytes: number): Generator<string> {
  const fd = openSync(file, 'r');
  try {
    const decoder = new TextDecoder('utf-8');
    const buf = new Uint8Array(readBytes);
    let first = true;
    for (;;) {
      const n = readSync(fd, buf, 0, readBytes, null);
      if (first) {
        first = false;
        const report = inspectBytes(buf.subarray(0, n));
        if (report.nulBytes > 0)
          throw new CorpusError(
            'binary',
            `Text file looks binary, not text: it contains NUL bytes (the first at offset ${report.firstNul}): ${file}`,
          );
      }
      if (n === 0) break;
      const text = decoder.decode(buf.subarray(0, n), { stream: true });
      if (text) yield text;
    }
    const rest = decoder.decode();
    if (rest) yield rest;
  } finally {
    closeSync(fd);
  }
}

/**
 * Last index just after a '\n' with a non-whitespace character on both sides, or -1. GPT-2's pre-tokenizer splits
 * there whatever follows (a whitespace run ending a piece would otherwise swallow the newline, "  \n" or "\n\n").
 */
function lastSafeCut(text: string): number {
  for (let i = text.length - 2; i >= 1; i--) {
    if (text.charCodeAt(i) === 10 && !/\s/.test(text[i + 1]) && !/\s/.test(text[i - 1])) return i + 1;
  }
  return -1;
}

function* readPlain(file: string, options: TextSetOptions): Generator<TextPiece> {
  const readBytes = options.readBytes ?? DEFAULT_READ_BYTES;
  let carry = '';
  let documentStart = true;
  for (const chunk of fileChunks(file, readBytes)) {
    carry += chunk;
    if (carry.length < readBytes) continue;
    // A text without a safe cut (one enormous line) is cut anyway once it is far over the piece size.
    let cut = lastSafeCut(carry);
    if (cut <= 0 && carry.length > 8 * readBytes) cut = carry.length;
    if (cut <= 0) continue;
    yield { text: carry.slice(0, cut), documentStart, source: file };
    documentStart = false;
    carry = carry.slice(cut);
  }
  if (carry.length) yield { text: carry, documentStart, source: file };
}

function* readJsonl(file: string, options: TextSetOptions): Generator<TextPiece> {
  let carry = '';
  let line = 0;
  const parse = (raw: string): TextPiece | null => {
    line++;
    if (raw.trim() === '') return null;
    const where = `line ${line} of ${file}`;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw new CorpusError('format', `${where} is not valid JSON (${(err as Error).message})`);
    }
    const text = (value as { text?: unknown } | null)?.text;
    if (typeof text !== 'string') {
      const keys =
        value && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value).join(', ') : '';
      throw new CorpusError(
        'format',
        `${where} has no string field "text"${keys ? ` (its fields: ${keys})` : ' (it is not a JSON object)'}`,
      );
    }
    return { text, documentStart: true, source: `${file}:${line}` };
  };
  for (const chunk of fileChunks(file, options.readBytes ?? DEFAULT_READ_BYTES)) {
    carry += chunk;
    let nl;
    while ((nl = carry.indexOf('\n')) >= 0) {
      const piece = parse(carry.slice(0, nl));
      carry = carry.slice(nl + 1);
      if (piece) yield piece;
    }
  }
  if (carry.length) {
    const piece = parse(carry);
    if (piece) yield piece;
  }
}

/** Token arrays of the pieces, with the document separator between documents (not before the first). */
export function* tokenizePieces(pieces: Iterable<TextPiece>, tokenizer: Tokenizer): Generator<TokenArray> {
  const separator =
    tokenizer.documentSeparator !== undefined
      ? Int32Array.of(tokenizer.documentSeparator)
      : tokenizer.encode('\n\n');
  let first = true;
  for (const piece of pieces) {
    if (piece.documentStart && !first) yield separator;
    first = false;
    const ids = tokenizer.encode(piece.text);
    if (ids.length) yield ids;
  }
}

export interface WindowOptions {
  /** Start of each window after the previous one's (default `length`: disjoint; `length - 1` shares one token). */
  stride?: number;
  /** Also yield the last, shorter window (default false). */
  keepPartial?: boolean;
}

/** Consecutive windows of `length` tokens over a stream of token arrays, holding at most one window + one array. */
export function* tokenWindows(
  chunks: Iterable<TokenArray>,
  length: number,
  options: WindowOptions = {},
): Generator<Int32Array> {
  const stride = options.stride ?? length;
  if (!(Number.isInteger(length) && length > 0 && Number.isInteger(stride) && stride > 0 && stride <= length))
    throw new RangeError(
      `window length ${length} and stride ${stride} must be integers with 0 < stride ≤ length`,
    );
  let win = new Int32Array(length);
  let fill = 0;
  let fresh = 0; // tokens in `win` not yet yielded as part of an earlier window
  for (const chunk of chunks) {
    for (let i = 0; i < chunk.length; i++) {
      win[fill++] = chunk[i];
      fresh++;
      if (fill === length) {
        yield win;
        const next = new Int32Array(length);
        next.set(win.subarray(stride));
        win = next;
        fill = length - stride;
        fresh = 0;
      }
    }
  }
  if (options.keepPartial && fresh > 0 && fill > 1) yield win.slice(0, fill);
}

/**
 * The items in a seeded random order that only needs `bufferSize` of them at a time: each arriving item takes
 * the place of a random one of the buffer, which is emitted; the remainder is emitted in random order at the
 * end. With a buffer as large as the set it is a uniform shuffle.
 */
export function* shuffleBuffered<T>(items: Iterable<T>, bufferSize: number, rng: Rng): Generator<T> {
  if (!(Number.isInteger(bufferSize) && bufferSize > 0))
    throw new RangeError(`shuffle buffer size must be a positive integer (got ${bufferSize})`);
  const buffer: T[] = [];
  for (const item of items) {
    if (buffer.length < bufferSize) {
      buffer.push(item);
      continue;
    }
    const j = rng.int(bufferSize);
    yield buffer[j];
    buffer[j] = item;
  }
  for (let i = buffer.length - 1; i >= 0; i--) {
    const j = rng.int(i + 1);
    yield buffer[j];
    buffer[j] = buffer[i];
  }
}

export interface TextSetWindowOptions extends TextSetOptions {
  /** Tokens per window (T + 1 for training windows of context T). */
  windowLength: number;
  /** Shuffle the windows through a buffer of this many, seeded; omitted: windows in text order. */
  shuffle?: { bufferSize: number; seed: number };
}

/** Disjoint token windows of a text set, optionally shuffled in bounded memory. */
export function* textSetWindows(
  spec: string,
  tokenizer: Tokenizer,
  options: TextSetWindowOptions,
): Generator<Int32Array> {
  const windows = tokenWindows(tokenizePieces(readTextSet(spec, options), tokenizer), options.windowLength);
  if (!options.shuffle) return yield* windows;
  const { bufferSize, seed } = options.shuffle;
  yield* shuffleBuffered(windows, bufferSize, Rng.derive(seed, 'text-set-shuffle'));
}
