/**
 * How token text (decoded main-side: src-main/engine/text/tokenText.ts) is drawn. On its own — a top-token chip, a
 * logit-effect row — whitespace must be visible: ` the` reads `␣the`, a newline `↵`. In a context window the
 * tokens read as running text, so spaces stay spaces and only line breaks and tabs get a mark.
 */
const MARKS: Record<string, string> = { '\n': '↵', '\t': '⇥', '\r': '␍' };

const control = (c: string) => MARKS[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;

/** Characters with no visible glyph of their own (format, unusual spaces, private use, unassigned): U+XXXX. */
const INVISIBLE = /[\p{Cf}\p{Zs}\p{Zl}\p{Zp}\p{Co}\p{Cn}\u0080-\u009f]/gu;
const codePoint = (c: string) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/** A token shown on its own. */
export function tokenChip(t: string): string {
  if (t === '') return '∅';
  return (
    t
      .replace(/ /g, '␣')
      // eslint-disable-next-line no-control-regex
      .replace(/[\x00-\x1f\x7f]/g, control)
      .replace(INVISIBLE, codePoint)
  );
}

/** A token inside a context window. */
export function contextToken(t: string): string {
  // eslint-disable-next-line no-control-regex
  return t.replace(/[\x00-\x1f\x7f]/g, control);
}
