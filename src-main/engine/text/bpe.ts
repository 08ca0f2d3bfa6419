/**
 * GPT-2 byte-level BPE (SPEC §1.3): the r50k_base encoding ("gpt2" in tiktoken) with its ranks as shipped by the npm
 * package `js-tiktoken` (nothing downloaded). Vocabulary 50,257: 50,256 merges-derived tokens and `<|endoftext|>`
 * (50256), which separates documents. Text is always encoded as plain text: a literal "<|endoftext|>" inside a
 * document becomes ordinary tokens, never the separator, so a document cannot forge a boundary.
 */
import { Tiktoken } from 'js-tiktoken/lite';
import r50kBase from 'js-tiktoken/ranks/r50k_base';

import { asciiTokenizer, type Tokenizer } from './tokenizer.ts';

export const GPT2_VOCAB_SIZE = 50257;
export const GPT2_EOT_ID = 50256;
export const GPT2_EOT = '<|endoftext|>';

let encoding: Tiktoken | null = null;

/** Parsing the ranks takes a moment, so it happens on first use and once per thread. */
function bpe(): Tiktoken {
  encoding ??= new Tiktoken(r50kBase);
  return encoding;
}

export function encodeGpt2(text: string): Int32Array {
  return Int32Array.from(bpe().encode(text, [], []));
}

/** Ids outside the vocabulary are a caller bug, so they throw (as decodeAscii does). */
export function decodeGpt2(ids: ArrayLike<number>): string {
  const list = Array.from(ids);
  list.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= GPT2_VOCAB_SIZE)
      throw new RangeError(
        `decodeGpt2: token id ${id} at index ${i} is outside the GPT-2 vocabulary [0, ${GPT2_VOCAB_SIZE})`,
      );
  });
  return bpe().decode(list);
}

let byteTable: Uint8Array[] | null = null;

/**
 * The bytes one token stands for (`<|endoftext|>` as its UTF-8 text). A byte-level BPE token need not be whole
 * UTF-8 on its own (one byte of "é" or of an emoji), so this, not `decodeGpt2([id])`, is what token text starts
 * from (tokenText.ts). Parsed from the same r50k_base ranks the encoder uses, once per thread.
 */
export function gpt2TokenBytes(id: number): Uint8Array {
  if (!Number.isInteger(id) || id < 0 || id >= GPT2_VOCAB_SIZE)
    throw new RangeError(
      `gpt2TokenBytes: token id ${id} is outside the GPT-2 vocabulary [0, ${GPT2_VOCAB_SIZE})`,
    );
  if (!byteTable) {
    const table: Uint8Array[] = new Array<Uint8Array>(GPT2_VOCAB_SIZE);
    // Each line: a prefix, the rank of its first token, then consecutive tokens as base64 bytes.
    for (const line of r50kBase.bpe_ranks.split('\n')) {
      if (!line) continue;
      const [, offset, ...tokens] = line.split(' ');
      tokens.forEach(
        (t, i) => (table[Number.parseInt(offset, 10) + i] = new Uint8Array(Buffer.from(t, 'base64'))),
      );
    }
    for (const [text, rank] of Object.entries(r50kBase.special_tokens))
      table[rank] = new TextEncoder().encode(text);
    byteTable = table;
  }
  return byteTable[id];
}

/** Documents encoded one after another with `<|endoftext|>` between them (not before the first or after the last). */
export function encodeGpt2Documents(documents: Iterable<string>): Int32Array {
  const parts: Int32Array[] = [];
  let n = 0;
  for (const doc of documents) {
    if (parts.length) {
      parts.push(Int32Array.of(GPT2_EOT_ID));
      n++;
    }
    const ids = encodeGpt2(doc);
    parts.push(ids);
    n += ids.length;
  }
  const out = new Int32Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const gpt2Tokenizer: Tokenizer = {
  name: 'gpt2',
  vocabSize: GPT2_VOCAB_SIZE,
  encode: encodeGpt2,
  decode: decodeGpt2,
  documentSeparator: GPT2_EOT_ID,
};

/** The tokenizer of a model folder (see readLmTokenizerName in io/lmCheckpoint.ts). */
export function tokenizerNamed(name: 'ascii' | 'gpt2'): Tokenizer {
  return name === 'gpt2' ? gpt2Tokenizer : asciiTokenizer;
}
