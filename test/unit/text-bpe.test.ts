/**
 * GPT-2 BPE (SPEC §1.3, issue 12 item 2): r50k_base ranks from js-tiktoken, checked against token ids known
 * independently of the package (the published GPT-2 vocabulary: "Hello" 15496, " world" 995, "," 11, "!" 0,
 * "The" 464, " the" 262, <|endoftext|> 50256), `<|endoftext|>` only between documents, never forged by text.
 */
import { describe, expect, it } from 'vitest';

import {
  decodeGpt2,
  encodeGpt2,
  encodeGpt2Documents,
  GPT2_EOT_ID,
  GPT2_VOCAB_SIZE,
  gpt2Tokenizer,
  tokenizerNamed,
  asciiTokenizer,
} from '../../src-main/engine/text/index.ts';

const ids = (text: string) => Array.from(encodeGpt2(text));

describe('GPT-2 BPE', () => {
  it('gives the known ids of r50k_base', () => {
    expect(ids('Hello world')).toEqual([15496, 995]);
    expect(ids('Hello, world!')).toEqual([15496, 11, 995, 0]);
    expect(ids('The quick brown fox')).toEqual([464, 2068, 7586, 21831]);
    expect(ids(' the')).toEqual([262]);
    expect(ids('')).toEqual([]);
  });

  it('has the GPT-2 vocabulary and separator', () => {
    expect(GPT2_VOCAB_SIZE).toBe(50257);
    expect(GPT2_EOT_ID).toBe(50256);
    expect(gpt2Tokenizer).toMatchObject({ name: 'gpt2', vocabSize: 50257, documentSeparator: 50256 });
    expect(tokenizerNamed('gpt2')).toBe(gpt2Tokenizer);
    expect(tokenizerNamed('ascii')).toBe(asciiTokenizer);
  });

  it('decodes back to the text, non-ASCII included (byte-level)', () => {
    for (const text of ['Hello world', 'café 🙂 naïve — “quotes”', '  spaces\n\nand lines\t'])
      expect(decodeGpt2(encodeGpt2(text))).toBe(text);
    expect(decodeGpt2([GPT2_EOT_ID])).toBe('<|endoftext|>');
    expect(() => decodeGpt2([50257])).toThrow(/outside the GPT-2 vocabulary/);
  });

  it('puts <|endoftext|> between documents only; a literal one in text stays text', () => {
    expect(Array.from(encodeGpt2Documents(['Hello world', 'Hello']))).toEqual([
      15496,
      995,
      GPT2_EOT_ID,
      15496,
    ]);
    expect(Array.from(encodeGpt2Documents(['Hello']))).toEqual([15496]);
    const forged = ids('a<|endoftext|>b');
    expect(forged).not.toContain(GPT2_EOT_ID);
    expect(decodeGpt2(forged)).toBe('a<|endoftext|>b');
  });
});
