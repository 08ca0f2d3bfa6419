/**
 * Token text for latent pages (issue 12 item 7): GPT-2 ids decode to readable text main-side, byte-level pieces of a
 * multi-byte character never become U+FFFD, and the ASCII path is unchanged. Expected strings come from the
 * published vocabulary (" the" 262, "Hello" 15496) and from Node's own UTF-8 (Buffer), not from the code under test.
 */
import { describe, expect, it } from 'vitest';

import { encodeGpt2, GPT2_EOT_ID, tokenText, windowTexts } from '../../src-main/engine/text/index.ts';
import { contextToken, tokenChip } from '../../src-renderer/lib/tokenText.ts';

const hexOf = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => `\\x${b.toString(16).padStart(2, '0')}`);

describe('token text', () => {
  it('shows whole GPT-2 tokens as their text', () => {
    expect(tokenText(262, 'gpt2')).toBe(' the');
    expect(tokenText(15496, 'gpt2')).toBe('Hello');
    expect(tokenText(0, 'gpt2')).toBe('!');
    expect(tokenText(GPT2_EOT_ID, 'gpt2')).toBe('<|endoftext|>');
    const [nl] = encodeGpt2('\n');
    expect(tokenText(nl, 'gpt2')).toBe('\n');
    expect(windowTexts(encodeGpt2('Hello world, the end.'), 'gpt2').join('')).toBe('Hello world, the end.');
  });

  it('keeps a character split across tokens whole in a window, and shows its bytes on a lone token', () => {
    const text = 'hug 🤗 ok';
    const ids = Array.from(encodeGpt2(text));
    const parts = windowTexts(ids, 'gpt2');
    expect(parts.join('')).toBe(text);
    expect(parts.join('')).not.toContain('\uFFFD');
    // The emoji is more than one token: the last one carries it, the ones before are joined ('').
    const carrier = parts.findIndex((p) => p.includes('🤗'));
    expect(carrier).toBeGreaterThan(0);
    const emojiBytes = hexOf('🤗');
    const lone = ids.map((id) => tokenText(id, 'gpt2'));
    // Its pieces on their own: exactly the emoji's UTF-8 bytes, escaped, spread over the tokens in order.
    const escaped = lone.join('').match(/\\x[0-9a-f]{2}/g);
    expect(escaped).toEqual(emojiBytes);
    expect(lone.join('')).not.toContain('\uFFFD');
  });

  it('escapes bytes cut off at either end of a window', () => {
    const ids = Array.from(encodeGpt2(' 🤗'));
    const first = ids.findIndex((_, i) =>
      windowTexts(ids.slice(0, i + 1), 'gpt2')
        .join('')
        .includes('🤗'),
    );
    expect(first).toBeGreaterThan(0);
    // Cut before the emoji's last token: its leading bytes show as escapes, no U+FFFD.
    const head = windowTexts(ids.slice(0, first), 'gpt2').join('');
    expect(head).toMatch(/^ ?(\\x[0-9a-f]{2})+$/);
    expect(hexOf('🤗').join('').startsWith(head.replace(/^ /, ''))).toBe(true);
    const tail = windowTexts(ids.slice(first), 'gpt2').join('');
    expect(tail).toMatch(/^(\\x[0-9a-f]{2})+$/);
    expect(hexOf('🤗').join('').endsWith(tail)).toBe(true);
  });

  it('decodes é and other two-byte characters', () => {
    for (const text of ['café', ' naïve résumé', 'Zürich']) {
      const parts = windowTexts(encodeGpt2(text), 'gpt2');
      expect(parts.join('')).toBe(text);
    }
  });

  it('leaves the ASCII path unchanged and shows ids for unknown tokenizers', () => {
    expect(windowTexts([72, 105, 10, 32], 'ascii')).toEqual(['H', 'i', '\n', ' ']);
    expect(tokenText(200, 'ascii')).toBe('⟨200⟩');
    expect(tokenText(262, 'ids')).toBe('⟨262⟩');
    expect(windowTexts([262, 99999], 'gpt2')).toEqual([' the', '⟨99999⟩']);
  });
});

describe('token text in the renderer', () => {
  it('makes whitespace visible on its own and keeps contexts as running text', () => {
    expect(tokenChip(' the')).toBe('␣the');
    expect(tokenChip('\n\n')).toBe('↵↵');
    expect(tokenChip('\t')).toBe('⇥');
    expect(tokenChip('\u200b')).toBe('U+200B');
    expect(tokenChip('\\xf0\\x9f')).toBe('\\xf0\\x9f');
    expect(tokenChip('')).toBe('∅');
    expect(contextToken(' the')).toBe(' the');
    expect(contextToken('.\n')).toBe('.↵');
  });
});
