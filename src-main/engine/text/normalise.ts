/**
 * ASCII normalisation for the built-in corpus (SPEC §1.2: "ASCII-normalised"). Applied, in this order:
 *   1. line endings: CRLF and lone CR become LF;
 *   2. typographic punctuation becomes its ASCII look-alike (curly quotes -> ' and ", en/em dashes -> - and --,
 *      ellipsis -> ..., non-breaking and other Unicode spaces -> ' ', bullet -> *);
 *   3. NFKD decomposition with combining marks dropped, so accented letters keep their base letter (é -> e) and
 *      compatibility forms expand (ﬁ -> fi);
 *   4. C0 control characters other than tab and newline, and DEL, are removed;
 *   5. whatever is still outside ASCII becomes '?', the same stand-in the tokenizer uses.
 * User files are NOT passed through this: SPEC §1.1 defines how the tokenizer treats non-ASCII text, and training on
 * exactly the bytes the researcher chose keeps the run reproducible from the file's hash.
 */

const PUNCTUATION: Record<string, string> = {
  '\u2018': "'",
  '\u2019': "'",
  '\u201a': "'",
  '\u201b': "'",
  '\u2032': "'",
  '\u201c': '"',
  '\u201d': '"',
  '\u201e': '"',
  '\u201f': '"',
  '\u2033': '"',
  '\u00ab': '"',
  '\u00bb': '"',
  '\u2010': '-',
  '\u2011': '-',
  '\u2012': '-',
  '\u2013': '-',
  '\u2014': '--',
  '\u2015': '--',
  '\u2212': '-',
  '\u2026': '...',
  '\u2022': '*',
  '\u00a0': ' ',
  '\u2007': ' ',
  '\u202f': ' ',
  '\u3000': ' ',
};

// eslint-disable-next-line no-control-regex -- the ASCII range is what this module is about
const NON_ASCII = /[^\x00-\x7f]/;

export function asciiNormalise(text: string): string {
  let out = text.replace(/\r\n?/g, '\n');
  // Fast path: the Brown corpus is already pure ASCII, so most of the work is skipped.
  if (NON_ASCII.test(out)) {
    out = out.replace(
      /[\u2018-\u201f\u2032\u2033\u00ab\u00bb\u2010-\u2015\u2212\u2026\u2022\u00a0\u2007\u202f\u3000]/g,
      (ch) => PUNCTUATION[ch] ?? ch,
    );
    out = out.replace(/[\u2000-\u200a]/g, ' ');
    out = out.normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
  }
  // eslint-disable-next-line no-control-regex -- removing control characters is the point
  out = out.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '');
  // Iterating by code point turns an astral character into one '?', as the tokenizer does.
  if (NON_ASCII.test(out)) out = Array.from(out, (ch) => (ch.charCodeAt(0) < 128 ? ch : '?')).join('');
  return out;
}
