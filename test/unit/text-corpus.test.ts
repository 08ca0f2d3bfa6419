import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { brownDocumentText } from '../../src-main/engine/text/brown.ts';
import { loadCorpus, type Corpus } from '../../src-main/engine/text/corpus.ts';
import { prepareSplits } from '../../src-main/engine/text/dataset.ts';
import { CorpusError } from '../../src-main/engine/text/errors.ts';
import { encodeAscii } from '../../src-main/engine/text/tokenizer.ts';

describe('built-in Brown corpus', () => {
  let brown: Corpus;
  beforeAll(() => {
    brown = loadCorpus('builtin:brown');
  });

  it('is large, plain ASCII text', () => {
    console.log(`Brown corpus: ${brown.source.chars} characters after normalisation`);
    expect(brown.name).toBe('brown');
    expect(brown.source.kind).toBe('builtin');
    expect(brown.source.chars).toBe(brown.text.length);
    expect(brown.source.chars).toBeGreaterThan(5_000_000);
    const codes = new Set(Array.from(brown.text, (ch) => ch.charCodeAt(0)));
    // Only printable ASCII plus newline: no tabs, no control characters, nothing above 127.
    expect([...codes].filter((c) => c !== 10 && (c < 32 || c > 126))).toEqual([]);
  });

  it('starts with the first sentence as plain text', () => {
    expect(brown.text.startsWith('The Fulton County Grand Jury said Friday an investigation of')).toBe(true);
    expect(brown.text).toContain(
      "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election produced " +
        '"no evidence" that any irregularities took place.\n',
    );
    expect(brown.text).toContain(
      'the City Executive Committee, which had over-all charge of the election, "deserves',
    );
  });

  it('contains no POS tags or corpus quote tokens', () => {
    // A tag is "/" followed by a lower-case tag name at the end of a token: "/nn", "/at", "/np-tl", "/.".
    expect(brown.text).not.toMatch(/\/(at|nn|nns|np|vbd|in|jj|cc|rb|dt)(-tl|-hl)?(\s|$)/);
    // Punctuation tokens ",/," "``/``" "(/(" would leave "/," "/`" "/(" behind. (A bare "/." does occur in the
    // text itself: phonetic notation such as "before /l/ and /r/.")
    expect(brown.text).not.toMatch(/\/[,`()]/);
    expect(brown.text).not.toMatch(/\S\/\.-hl/);
    expect(brown.text).not.toContain('``');
    expect(brown.text).not.toContain("''");
    // Punctuation hugs the preceding word (":35.3", a race time, is a word of its own).
    expect(brown.text).not.toMatch(/ [,.;:!?)](\s|$)/);
    expect(brown.text).not.toMatch(/[(] /);
  });

  it('is deterministic', () => {
    const again = loadCorpus('builtin:brown');
    expect(again.text === brown.text).toBe(true);
    expect(again.source.sha256).toBe(brown.source.sha256);
  });

  it('re-joins tagged tokens into readable sentences and paragraphs', () => {
    const tagged =
      "\n\n\tHe/pps said/vbd ,/, ``/`` Go/vb (/( now/rb )/) ''/'' ./.\nIt's/pps+bez '/' pro/jj '/' and/or/cc Jr./np ./. 1/8''/nn ''/'' rod/nn\n\n\n" +
      '\tNext/ap paragraph/nn ?/.\n';
    expect(brownDocumentText(tagged)).toBe(
      'He said, "Go (now)".\nIt\'s \'pro\' and/or Jr. 1/8" rod\n\nNext paragraph?',
    );
  });

  it('rejects unknown built-ins by name', () => {
    expect(() => loadCorpus('builtin:shakespeare')).toThrow(/Unknown built-in corpus "builtin:shakespeare"/);
  });
});

describe('user corpus files', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'scalar-text-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, content: string | Uint8Array) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  const expectCorpusError = (fn: () => unknown, code: string, message: RegExp) => {
    let caught: unknown;
    try {
      fn();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CorpusError);
    expect((caught as CorpusError).code).toBe(code);
    expect((caught as CorpusError).message).toMatch(message);
  };

  it('loads UTF-8 text with its path, hash and character count', () => {
    const path = write('ok.txt', 'héllo 😀 world\n');
    const corpus = loadCorpus(path);
    expect(corpus.name).toBe('ok.txt');
    expect(corpus.text).toBe('héllo 😀 world\n');
    expect(corpus.source).toMatchObject({ kind: 'file', path, chars: 14 });
    expect(corpus.source.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(loadCorpus(`file:${path}`).text).toBe(corpus.text);
  });

  it('missing file', () => {
    expectCorpusError(() => loadCorpus(join(dir, 'nope.txt')), 'missing', /not found: .*nope\.txt/);
  });

  it('a directory is not a corpus', () => {
    expectCorpusError(() => loadCorpus(dir), 'unreadable', /not a regular file/);
  });

  it('empty file', () => {
    expectCorpusError(() => loadCorpus(write('empty.txt', '')), 'empty', /empty \(0 bytes\)/);
  });

  it('whitespace-only file', () => {
    expectCorpusError(() => loadCorpus(write('blank.txt', ' \n\t\r\n  \n')), 'empty', /only whitespace/);
  });

  it('binary file with NUL bytes', () => {
    const bytes = new Uint8Array(1000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 37) % 256;
    expectCorpusError(() => loadCorpus(write('data.bin', bytes)), 'binary', /binary.*NUL bytes.*offset 0/);
  });

  it('binary file made of control characters', () => {
    const bytes = new Uint8Array(1000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = i % 2 === 0 ? 0x01 : 0x41;
    expectCorpusError(
      () => loadCorpus(write('ctl.bin', bytes)),
      'binary',
      /control characters \(500 of 1000 bytes\)/,
    );
  });

  it('a file in another encoding is named as invalid UTF-8', () => {
    const latin1 = Buffer.from('caf\u00e9 na\u00efve r\u00e9sum\u00e9 '.repeat(20), 'latin1');
    expectCorpusError(() => loadCorpus(write('latin1.txt', latin1)), 'encoding', /not valid UTF-8.*Latin-1/);
  });

  it('too short for T=128: says how many characters are needed and present', () => {
    const corpus = loadCorpus(write('short.txt', 'a short corpus. '.repeat(50)));
    expect(corpus.source.chars).toBe(800);
    expectCorpusError(
      () => prepareSplits(encodeAscii(corpus.text), 128, { corpusName: corpus.name }),
      'too-short',
      /"short\.txt" is too short for context length T=128: it needs at least 1281 characters but has 800.*validation split \(last 10 %\) has 80/,
    );
  });
});
