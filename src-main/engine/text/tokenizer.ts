/**
 * Character tokenizer of the toy models (SPEC §1.1): id = code point if < 128, else 63 ('?'); vocab 128; no special
 * tokens. GPT-2 BPE (bpe.ts) sits behind the same `Tokenizer` interface.
 */

export type TokenArray = Int32Array | Uint8Array;

export interface Tokenizer {
  readonly name: 'ascii' | 'gpt2';
  readonly vocabSize: number;
  encode(text: string): TokenArray;
  decode(ids: ArrayLike<number>): string;
  /** Id placed between documents (`<|endoftext|>` for GPT-2); none for the character tokenizer. */
  readonly documentSeparator?: number;
}

export const ASCII_VOCAB_SIZE = 128;
/** '?' stands in for every character outside ASCII. */
export const ASCII_UNKNOWN_ID = 63;

/**
 * One id per Unicode code point, so a character outside the BMP (an emoji, stored as a UTF-16 surrogate pair) becomes a
 * single '?' rather than two. A lone surrogate is also one '?'.
 */
export function encodeAscii(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < ASCII_VOCAB_SIZE) {
      out[n++] = c;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++; // the low half belongs to the same code point
    }
    out[n++] = ASCII_UNKNOWN_ID;
  }
  return n === out.length ? out : out.slice(0, n);
}

/** Inverse of `encodeAscii` on ASCII text. Ids outside the vocabulary are a caller bug, so they throw. */
export function decodeAscii(ids: ArrayLike<number>): string {
  const chunk = 8192; // String.fromCharCode.apply has an argument-count limit
  const parts: string[] = [];
  for (let start = 0; start < ids.length; start += chunk) {
    const end = Math.min(ids.length, start + chunk);
    const codes = new Array<number>(end - start);
    for (let i = start; i < end; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= ASCII_VOCAB_SIZE) {
        throw new RangeError(
          `decodeAscii: token id ${id} at index ${i} is outside the ASCII vocabulary [0, 128)`,
        );
      }
      codes[i - start] = id;
    }
    parts.push(String.fromCharCode(...codes));
  }
  return parts.join('');
}

export const asciiTokenizer: Tokenizer = {
  name: 'ascii',
  vocabSize: ASCII_VOCAB_SIZE,
  encode: encodeAscii,
  decode: decodeAscii,
};
