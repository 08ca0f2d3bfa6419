import { describe, expect, it } from 'vitest';

import { asciiNormalise } from '../../src-main/engine/text/normalise.ts';
import { asciiTokenizer, decodeAscii, encodeAscii } from '../../src-main/engine/text/tokenizer.ts';

describe('ascii tokenizer', () => {
  it('maps known characters to their ids', () => {
    expect(Array.from(encodeAscii('A'))).toEqual([65]);
    expect(Array.from(encodeAscii('é'))).toEqual([63]);
    expect(Array.from(encodeAscii('\n'))).toEqual([10]);
    expect(Array.from(encodeAscii('\u0000\u007f'))).toEqual([0, 127]);
  });

  it('turns an astral character (emoji) into ONE "?"', () => {
    expect(Array.from(encodeAscii('😀'))).toEqual([63]);
    expect(Array.from(encodeAscii('a😀b'))).toEqual([97, 63, 98]);
    // A lone surrogate is one code point too.
    expect(Array.from(encodeAscii('x\ud800y'))).toEqual([120, 63, 121]);
  });

  it('round-trips ASCII text', () => {
    let text = 'The Fulton County Grand Jury said Friday.\n\t"Quotes", (brackets) & symbols ~`|{}';
    for (let c = 0; c < 128; c++) text += String.fromCharCode(c);
    expect(decodeAscii(encodeAscii(text))).toBe(text);
    expect(asciiTokenizer.decode(asciiTokenizer.encode(text))).toBe(text);
  });

  it('decodes long sequences and rejects ids outside the vocabulary', () => {
    const ids = new Uint8Array(100_000).fill(97);
    expect(decodeAscii(ids)).toBe('a'.repeat(100_000));
    expect(() => decodeAscii([65, 128])).toThrow(RangeError);
    expect(() => decodeAscii([-1])).toThrow(/outside the ASCII vocabulary/);
  });

  it('describes itself through the Tokenizer interface', () => {
    expect(asciiTokenizer.name).toBe('ascii');
    expect(asciiTokenizer.vocabSize).toBe(128);
  });
});

describe('asciiNormalise', () => {
  it('maps typographic punctuation and accents to ASCII and the rest to "?"', () => {
    expect(asciiNormalise('\u201cCaf\u00e9\u201d \u2014 it\u2019s\u2026\r\n')).toBe('"Cafe" -- it\'s...\n');
    expect(asciiNormalise('a\u00a0b\u0007c 😀 \u4e2d')).toBe('a bc ? ?');
  });
});
