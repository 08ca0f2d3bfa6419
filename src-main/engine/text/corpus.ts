/**
 * Text corpora: the built-in Brown corpus or a user's UTF-8 text file, resolved from a spec string
 * (`builtin:brown`, or a path; `file:` prefix optional).
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';

import { loadBrownText } from './brown.ts';
import { CorpusError } from './errors.ts';
import { inspectBytes, MAX_CONTROL_FRACTION, MAX_INVALID_UTF8_FRACTION, SNIFF_BYTES } from './utf8.ts';

export interface CorpusSource {
  kind: 'builtin' | 'file';
  /** Absolute path, for files. */
  path?: string;
  /** Files: SHA-256 of the file's bytes (matches `sha256sum`). Built-ins: SHA-256 of the UTF-8 of the text produced. */
  sha256: string;
  /** Length of the text in Unicode code points (= tokens under the ASCII tokenizer). */
  chars: number;
}

export interface Corpus {
  name: string;
  text: string;
  source: CorpusSource;
  /** Problems that did not stop loading (e.g. a few bytes of invalid UTF-8 decoded as U+FFFD). */
  warnings: string[];
}

export const BUILTIN_CORPORA = ['builtin:brown'] as const;
export type BuiltinCorpusSpec = (typeof BUILTIN_CORPORA)[number];

export function loadCorpus(spec: string): Corpus {
  const trimmed = spec.trim();
  if (trimmed.startsWith('builtin:')) return loadBuiltin(trimmed);
  const path = trimmed.startsWith('file:') ? trimmed.slice('file:'.length) : trimmed;
  if (path.length === 0)
    throw new CorpusError('missing', 'No corpus given: expected "builtin:brown" or a file path');
  return loadTextFile(path);
}

function loadBuiltin(spec: string): Corpus {
  if (spec !== 'builtin:brown') {
    throw new CorpusError(
      'unknown-builtin',
      `Unknown built-in corpus "${spec}"; available: ${BUILTIN_CORPORA.join(', ')}`,
    );
  }
  const { text } = loadBrownText();
  return {
    name: 'brown',
    text,
    source: { kind: 'builtin', sha256: sha256(Buffer.from(text, 'utf8')), chars: countCodePoints(text) },
    warnings: [],
  };
}

export function loadTextFile(pathArg: string): Corpus {
  const path = resolve(pathArg);
  const bytes = readBytes(path);
  const kib = (SNIFF_BYTES / 1024).toFixed(0);
  if (bytes.length === 0) throw new CorpusError('empty', `Corpus file is empty (0 bytes): ${path}`);

  const utf16 = utf16Kind(bytes);
  if (utf16) {
    throw new CorpusError(
      'encoding',
      `Corpus file is UTF-16 text (${utf16}), not UTF-8; convert it to UTF-8 first ` +
        `(e.g. iconv -f UTF-16 -t UTF-8 in.txt > out.txt): ${path}`,
    );
  }
  const report = inspectBytes(bytes);
  if (report.nulBytes > 0) {
    throw new CorpusError(
      'binary',
      `Corpus file looks binary, not text: it contains NUL bytes (${report.nulBytes} in the first ` +
        `${report.inspected} bytes, the first at offset ${report.firstNul}): ${path}`,
    );
  }
  if (report.controlBytes > MAX_CONTROL_FRACTION * report.inspected) {
    throw new CorpusError(
      'binary',
      `Corpus file looks binary, not text: ${percent(report.controlBytes, report.inspected)} of the first ` +
        `${kib} KiB are control characters (${report.controlBytes} of ${report.inspected} bytes): ${path}`,
    );
  }
  if (report.invalidUtf8Bytes > MAX_INVALID_UTF8_FRACTION * report.inspected) {
    throw new CorpusError(
      'encoding',
      `Corpus file is not valid UTF-8: ${report.invalidUtf8Bytes} of the first ${report.inspected} bytes ` +
        `(${percent(report.invalidUtf8Bytes, report.inspected)}) are invalid UTF-8 sequences. It is binary or in ` +
        `another encoding (e.g. Latin-1); convert it to UTF-8: ${path}`,
    );
  }

  // Non-fatal decoding: the few ill-formed bytes tolerated above become U+FFFD (a '?' token); a BOM is dropped.
  const text = new TextDecoder('utf-8').decode(bytes);
  if (text.trim().length === 0) {
    throw new CorpusError('empty', `Corpus file contains only whitespace (${bytes.length} bytes): ${path}`);
  }
  const warnings: string[] = [];
  const replaced = countChar(text, '\ufffd');
  if (replaced > 0) warnings.push(`${replaced} ill-formed UTF-8 sequence(s) were replaced by U+FFFD ('?')`);

  return {
    name: basename(path),
    text,
    source: { kind: 'file', path, sha256: sha256(bytes), chars: countCodePoints(text) },
    warnings,
  };
}

/**
 * The largest corpus file read: the text is held whole in memory as one string (V8 caps a string at about 2²⁹
 * characters) beside its tokens.
 */
export const MAX_CORPUS_BYTES = 512 * 1024 * 1024;

/** 'little-endian, with a byte-order mark' etc. when the bytes look like UTF-16 text, else null. */
function utf16Kind(bytes: Uint8Array): string | null {
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe)
    return 'little-endian, with a byte-order mark';
  if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff)
    return 'big-endian, with a byte-order mark';
  // Without a mark: ASCII-range text in UTF-16 has a NUL in every other byte and (almost) none in the others.
  const n = Math.min(bytes.length - (bytes.length % 2), 4096);
  if (n < 8) return null;
  let even = 0;
  let odd = 0;
  for (let i = 0; i < n; i += 2) {
    if (bytes[i] === 0) even++;
    if (bytes[i + 1] === 0) odd++;
  }
  const pairs = n / 2;
  if (odd > 0.9 * pairs && even < 0.1 * pairs) return 'little-endian';
  if (even > 0.9 * pairs && odd < 0.1 * pairs) return 'big-endian';
  return null;
}

function readBytes(path: string): Uint8Array {
  let isFile: boolean;
  let size = 0;
  try {
    const st = statSync(path);
    isFile = st.isFile();
    size = st.size;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new CorpusError('missing', `Corpus file not found: ${path}`);
    }
    throw new CorpusError('unreadable', `Corpus file cannot be read (${describe(error)}): ${path}`);
  }
  if (!isFile)
    throw new CorpusError('unreadable', `Corpus path is not a regular file (a directory?): ${path}`);
  if (size > MAX_CORPUS_BYTES)
    throw new CorpusError(
      'too-large',
      `Corpus file is ${(size / 2 ** 20).toFixed(0)} MiB; a corpus is read whole into memory and may be at most ` +
        `${MAX_CORPUS_BYTES / 2 ** 20} MiB (use a part of it): ${path}`,
    );
  try {
    return readFileSync(path);
  } catch (error) {
    throw new CorpusError('unreadable', `Corpus file cannot be read (${describe(error)}): ${path}`);
  }
}

function describe(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e.code ? `${e.code}: ${e.message}` : String(error);
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function percent(part: number, whole: number): string {
  return `${((100 * part) / whole).toFixed(1)} %`;
}

export function countCodePoints(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length - 1; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

function countChar(text: string, ch: string): number {
  let n = 0;
  for (let i = text.indexOf(ch); i >= 0; i = text.indexOf(ch, i + 1)) n++;
  return n;
}
