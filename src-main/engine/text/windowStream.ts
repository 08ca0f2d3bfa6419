/**
 * Consecutive disjoint token windows of a text set with a position that can be saved and resumed exactly. The
 * token stream is the one `tokenizePieces` makes (each piece of `readTextSet` tokenized on its own, the document
 * separator before every document but the first), so the windows equal those of `tokenWindows` over it.
 *
 * A position is (piece, offset): the next window starts `offset` tokens into piece `piece`'s tokens (its leading
 * separator included). Resuming reads the pieces before it without tokenizing them (file reads only) and
 * tokenizes that one piece again; memory holds one piece's tokens and one window.
 */
import type { TextSetOptions } from './textSet.ts';
import { readTextSet, type TextPiece } from './textSet.ts';
import type { TokenArray, Tokenizer } from './tokenizer.ts';

export interface WindowPosition {
  piece: number;
  offset: number;
}

export const STREAM_START: WindowPosition = { piece: 0, offset: 0 };

export class WindowStream {
  private readonly pieces: Iterator<TextPiece>;
  private readonly separator: TokenArray;
  private pieceIndex = -1;
  private tokens: TokenArray = new Int32Array(0);
  private offset = 0;
  /** Tokens handed out in windows since this stream was opened. */
  tokensRead = 0;

  constructor(
    readonly spec: string,
    private readonly tokenizer: Tokenizer,
    start: WindowPosition = STREAM_START,
    options: TextSetOptions = {},
  ) {
    this.separator =
      tokenizer.documentSeparator !== undefined
        ? Int32Array.of(tokenizer.documentSeparator)
        : tokenizer.encode('\n\n');
    this.pieces = readTextSet(spec, options)[Symbol.iterator]();
    for (let i = 0; i < start.piece; i++)
      if (this.pieces.next().done)
        throw new Error(
          `text set ${spec} has only ${i} pieces, but the saved position is in piece ${start.piece}: the text set changed`,
        );
    this.pieceIndex = start.piece - 1;
    if (!this.load())
      throw new Error(
        `text set ${spec} ends before the saved position (piece ${start.piece}): the text set changed`,
      );
    if (start.offset > this.tokens.length)
      throw new Error(
        `piece ${start.piece} of text set ${spec} has ${this.tokens.length} tokens, fewer than the saved offset ${start.offset}: the text set changed`,
      );
    this.offset = start.offset;
  }

  /** Where the next window starts. */
  position(): WindowPosition {
    return { piece: this.pieceIndex, offset: this.offset };
  }

  /** The next window of `length` tokens, or null when the text set ends first (the partial window is dropped). */
  next(length: number): Int32Array | null {
    const out = new Int32Array(length);
    let fill = 0;
    while (fill < length) {
      if (this.offset >= this.tokens.length) {
        if (!this.load()) return null;
        continue;
      }
      const n = Math.min(length - fill, this.tokens.length - this.offset);
      out.set(this.tokens.subarray(this.offset, this.offset + n), fill);
      fill += n;
      this.offset += n;
    }
    this.tokensRead += length;
    return out;
  }

  /** Tokenizes the next piece (with its leading separator); false at the end of the set. */
  private load(): boolean {
    const r = this.pieces.next();
    if (r.done) return false;
    this.pieceIndex++;
    const ids = this.tokenizer.encode(r.value.text);
    if (r.value.documentStart && this.pieceIndex > 0) {
      const t = new Int32Array(this.separator.length + ids.length);
      t.set(this.separator);
      t.set(ids, this.separator.length);
      this.tokens = t;
    } else this.tokens = ids;
    this.offset = 0;
    return true;
  }
}
