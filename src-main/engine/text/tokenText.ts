/**
 * Token ids as the text a person reads (latent pages, graph tooltips): the decoding lives here, main-side, with the
 * tokenizers; the renderer receives strings.
 *
 * GPT-2 BPE is byte-level, so a token need not be whole UTF-8 on its own ("🤗" is several tokens, one or more
 * bytes each). The rule, the same for a window and for a token on its own (a window of one):
 *
 * - the bytes of the tokens are decoded in order as one UTF-8 stream;
 * - a character goes to the token holding its *last* byte; a token whose bytes only start a character that a later
 *   token finishes gets '' (the renderer marks such a joined token);
 * - bytes that are not part of a whole character — a character cut at either end of the window, or a token shown on
 *   its own — are written `\xNN` (lowercase hex) on the token they came from, never U+FFFD.
 *
 * So a window's strings joined are its decoded text wherever that text is valid UTF-8, and a lone partial token
 * shows its bytes (`\xf0\x9f`). The ASCII tokenizer maps id to character (ids ≥ 128 never occur); any other
 * tokenizer name (`ids`: statistics stored before the tokenizer was recorded) shows `⟨id⟩`.
 */
import { GPT2_VOCAB_SIZE, gpt2TokenBytes } from './bpe.ts';

/** The text of each token of a run of consecutive tokens (one context window). */
export function windowTexts(ids: ArrayLike<number>, tokenizer: string): string[] {
  const list = Array.from(ids);
  if (tokenizer === 'ascii')
    return list.map((id) =>
      Number.isInteger(id) && id >= 0 && id < 128 ? String.fromCharCode(id) : `⟨${id}⟩`,
    );
  if (tokenizer !== 'gpt2') return list.map((id) => `⟨${id}⟩`);
  const out = list.map(() => '');
  const utf8 = new Utf8Stream(out);
  list.forEach((id, t) => {
    if (!Number.isInteger(id) || id < 0 || id >= GPT2_VOCAB_SIZE) {
      utf8.flush();
      out[t] = `⟨${id}⟩`;
      return;
    }
    for (const b of gpt2TokenBytes(id)) utf8.push(b, t);
  });
  utf8.flush();
  return out;
}

/** One token's text on its own (top tokens, logit effects). */
export function tokenText(id: number, tokenizer: string): string {
  return windowTexts([id], tokenizer)[0];
}

const hex = (b: number) => `\\x${b.toString(16).padStart(2, '0')}`;

/** Incremental UTF-8 decoding (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF) into `out[token]`. */
class Utf8Stream {
  /** Bytes of the character begun but not finished, with the token each came from. */
  private pending: { b: number; t: number }[] = [];
  private need = 0;

  constructor(private readonly out: string[]) {}

  push(b: number, t: number): void {
    if (this.pending.length === 0) {
      if (b < 0x80) this.out[t] += String.fromCharCode(b);
      else if (b >= 0xc2 && b <= 0xf4) {
        this.pending.push({ b, t });
        this.need = b < 0xe0 ? 1 : b < 0xf0 ? 2 : 3;
      } else this.out[t] += hex(b); // a continuation byte without its lead, or a byte UTF-8 never uses
      return;
    }
    if (!this.continues(b)) {
      this.flush();
      this.push(b, t);
      return;
    }
    this.pending.push({ b, t });
    if (--this.need > 0) return;
    const [lead, ...rest] = this.pending.map((p) => p.b);
    let cp = lead & (rest.length === 1 ? 0x1f : rest.length === 2 ? 0x0f : 0x07);
    for (const c of rest) cp = (cp << 6) | (c & 0x3f);
    this.out[t] += String.fromCodePoint(cp);
    this.pending = [];
  }

  /** Writes the bytes of an unfinished character as escapes on their own tokens. */
  flush(): void {
    for (const p of this.pending) this.out[p.t] += hex(p.b);
    this.pending = [];
    this.need = 0;
  }

  private continues(b: number): boolean {
    if (this.pending.length === 1) {
      const lead = this.pending[0].b;
      if (lead === 0xe0) return b >= 0xa0 && b <= 0xbf;
      if (lead === 0xed) return b >= 0x80 && b <= 0x9f;
      if (lead === 0xf0) return b >= 0x90 && b <= 0xbf;
      if (lead === 0xf4) return b >= 0x80 && b <= 0x8f;
    }
    return b >= 0x80 && b <= 0xbf;
  }
}
