/**
 * Text sets (issue 12 item 3): plain text, JSONL with a `text` field and folders, streamed in pieces whose tokens
 * equal those of the whole text; document separators; token windows; the bounded shuffle; Brown as a text set.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Rng } from '../../src-main/engine/random.ts';
import {
  asciiTokenizer,
  encodeGpt2,
  GPT2_EOT_ID,
  gpt2Tokenizer,
  loadBrownText,
  readTextSet,
  shuffleBuffered,
  textSetFiles,
  textSetWindows,
  tokenizePieces,
  tokenWindows,
  type TokenArray,
} from '../../src-main/engine/text/index.ts';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'text-set-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const concat = (chunks: Iterable<TokenArray>) => {
  const out: number[] = [];
  for (const c of chunks) out.push(...c);
  return out;
};

function write(name: string, text: string): string {
  const p = path.join(tmp, name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text);
  return p;
}

// Lines of varied shapes: indents, blank runs, trailing spaces, non-ASCII (multi-byte UTF-8 across read chunks).
const LINES = Array.from({ length: 400 }, (_, i) =>
  i % 7 === 0
    ? ''
    : i % 5 === 0
      ? `   indented ${i} café — ${'x'.repeat(i % 13)}  `
      : `Line ${i}: the cat sat 🙂 on ${i * 7}.`,
);
const PLAIN = LINES.join('\n') + '\n';

describe('plain text', () => {
  it('streams in pieces whose tokens equal the whole text’s (GPT-2 and characters)', () => {
    const file = write('plain.txt', PLAIN);
    const pieces = [...readTextSet(file, { readBytes: 256 })];
    expect(pieces.length).toBeGreaterThan(10);
    expect(pieces[0].documentStart).toBe(true);
    expect(pieces.slice(1).every((p) => !p.documentStart)).toBe(true);
    expect(pieces.map((p) => p.text).join('')).toBe(PLAIN);
    expect(concat(tokenizePieces(pieces, gpt2Tokenizer))).toEqual(Array.from(encodeGpt2(PLAIN)));
    expect(concat(tokenizePieces(readTextSet(file, { readBytes: 256 }), asciiTokenizer))).toEqual(
      Array.from(asciiTokenizer.encode(PLAIN)),
    );
  });

  it('refuses a binary file, a missing path, an unknown built-in', () => {
    expect(() => [...readTextSet(write('bin.txt', 'ab\0cd'))]).toThrow(
      /looks binary, not text: it contains NUL/,
    );
    expect(() => textSetFiles(path.join(tmp, 'nope.txt'))).toThrow(/Text set not found: .*nope\.txt/);
    expect(() => textSetFiles('builtin:wiki')).toThrow(/Unknown built-in text set "builtin:wiki"/);
  });
});

describe('JSONL and folders', () => {
  it('reads one document per line from the "text" field, separated by <|endoftext|>', () => {
    const file = write(
      'docs.jsonl',
      [{ text: 'Hello world' }, { text: 'Hello', meta: 1 }, null]
        .slice(0, 2)
        .map((o) => JSON.stringify(o))
        .join('\n') +
        '\n\n' +
        JSON.stringify({ text: '', id: 3 }) +
        '\n',
    );
    const pieces = [...readTextSet(file, { readBytes: 8 })];
    expect(
      pieces.map((p) => [p.text, p.source.endsWith(`docs.jsonl:${p.source.split(':').at(-1)}`)]),
    ).toEqual([
      ['Hello world', true],
      ['Hello', true],
      ['', true],
    ]);
    expect(concat(tokenizePieces(pieces, gpt2Tokenizer))).toEqual([
      15496,
      995,
      GPT2_EOT_ID,
      15496,
      GPT2_EOT_ID,
    ]);
  });

  it('names the line of a bad record', () => {
    const bad = write('bad.jsonl', '{"text":"ok"}\n{"text": 3}\n');
    expect(() => [...readTextSet(bad)]).toThrow(
      /line 2 of .*bad\.jsonl has no string field "text" \(its fields: text\)/,
    );
    const notJson = write('notjson.jsonl', '{"text":"ok"}\n\nnot json\n');
    expect(() => [...readTextSet(notJson)]).toThrow(/line 3 of .*notjson\.jsonl is not valid JSON/);
  });

  it('reads a folder’s text and JSONL files recursively in path order', () => {
    write('set/b.txt', 'second');
    write('set/a.jsonl', '{"text":"first"}\n');
    write('set/sub/c.md', 'third');
    write('set/.hidden.txt', 'hidden');
    write('set/image.png', 'not text');
    expect(textSetFiles(path.join(tmp, 'set')).map((f) => path.relative(tmp, f))).toEqual([
      'set/a.jsonl',
      'set/b.txt',
      'set/sub/c.md',
    ]);
    const pieces = [...readTextSet(path.join(tmp, 'set'))];
    expect(pieces.map((p) => p.text)).toEqual(['first', 'second', 'third']);
    expect(concat(tokenizePieces(pieces, asciiTokenizer))).toEqual(
      Array.from(asciiTokenizer.encode('first\n\nsecond\n\nthird')),
    );
    fs.mkdirSync(path.join(tmp, 'empty-set'));
    expect(() => textSetFiles(path.join(tmp, 'empty-set'))).toThrow(/holds no text files/);
  });
});

describe('windows and the bounded shuffle', () => {
  const stream = [Int32Array.from([0, 1, 2]), Int32Array.from([3, 4, 5, 6]), Int32Array.from([7, 8, 9])];

  it('cuts disjoint windows, or windows sharing one token with the last partial one', () => {
    expect([...tokenWindows(stream, 4)].map((w) => Array.from(w))).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ]);
    expect([...tokenWindows(stream, 4, { stride: 3, keepPartial: true })].map((w) => Array.from(w))).toEqual([
      [0, 1, 2, 3],
      [3, 4, 5, 6],
      [6, 7, 8, 9],
    ]);
    expect([...tokenWindows(stream, 3, { stride: 2, keepPartial: true })].map((w) => Array.from(w))).toEqual([
      [0, 1, 2],
      [2, 3, 4],
      [4, 5, 6],
      [6, 7, 8],
      [8, 9],
    ]);
  });

  it('shuffles seeded, as a permutation, holding only its buffer', () => {
    const items = Array.from({ length: 1000 }, (_, i) => i);
    const a = [...shuffleBuffered(items, 50, new Rng(1))];
    expect([...a].sort((x, y) => x - y)).toEqual(items);
    expect(a).not.toEqual(items);
    expect([...shuffleBuffered(items, 50, new Rng(1))]).toEqual(a);
    expect([...shuffleBuffered(items, 50, new Rng(2))]).not.toEqual(a);
    // The k-th item out was among the first 50 + k in: never further ahead than the buffer.
    a.forEach((item, k) => expect(item).toBeLessThan(50 + k + 1));
    let pulled = 0;
    const source = function* () {
      for (const i of items) {
        pulled++;
        yield i;
      }
    };
    const it = shuffleBuffered(source(), 50, new Rng(3));
    it.next();
    expect(pulled).toBe(51);
  });

  it('gives shuffled windows of a text set, the same tokens as in order', () => {
    const file = write('w.txt', PLAIN);
    const ordered = [...textSetWindows(file, gpt2Tokenizer, { windowLength: 9 })].map((w) => Array.from(w));
    const shuffled = [
      ...textSetWindows(file, gpt2Tokenizer, { windowLength: 9, shuffle: { bufferSize: 16, seed: 7 } }),
    ].map((w) => Array.from(w));
    expect(shuffled).not.toEqual(ordered);
    expect(shuffled.map((w) => w.join(',')).sort()).toEqual(ordered.map((w) => w.join(',')).sort());
    expect(ordered.flat()).toEqual(Array.from(encodeGpt2(PLAIN)).slice(0, ordered.length * 9));
  });
});

describe('Brown as a text set', () => {
  it('streams the built-in corpus’s documents: characters as the corpus text, GPT-2 with <|endoftext|>', () => {
    const pieces = [...readTextSet('builtin:brown')];
    expect(pieces).toHaveLength(500);
    const { text } = loadBrownText();
    expect(pieces.map((p) => p.text).join('\n\n') + '\n').toBe(text);
    const first = concat(tokenizePieces(pieces.slice(0, 2), gpt2Tokenizer));
    expect(first).toEqual([...encodeGpt2(pieces[0].text), GPT2_EOT_ID, ...encodeGpt2(pieces[1].text)]);
  });
});
