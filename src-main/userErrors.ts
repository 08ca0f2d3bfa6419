/**
 * What a person sees when something is refused or fails: one sentence (or a few, separated by `; `), never a
 * stack trace or raw JSON. The CLI, the Api and the transports all go through `userMessage`; `--debug` adds the
 * stack and details for a bug report.
 */
import { formatIssues, isZodError } from '../src-shared/issues.ts';

/** A job's inputs cannot be used; the message says which input and why, in words. */
export class InputError extends Error {
  override name = 'InputError';
  readonly code = 'INPUT';
}

/** Errors that are the code's fault rather than the input's: shown as such, with a way to learn more. */
const BUG_NAMES = new Set(['TypeError', 'ReferenceError', 'SyntaxError', 'RangeError', 'AssertionError']);

/**
 * An error as a user reads it. Zod errors become sentences; a message that is raw JSON (an issue list that
 * crossed a boundary as text) is turned into sentences as well; programming errors are labelled as such.
 */
export function userMessage(err: unknown, opts: { debug?: boolean; bugHint?: string } = {}): string {
  let text: string;
  if (isZodError(err)) text = formatIssues(err.issues);
  else if (err instanceof Error) {
    text = fromJsonText(err.message) ?? err.message;
    if (BUG_NAMES.has(err.name) && !opts.debug)
      text = `internal error: ${firstLine(text)} (this is a bug; ${opts.bugHint ?? 'run the command again with --debug for details'})`;
  } else text = String(err);
  if (opts.debug && err instanceof Error && err.stack) text += `\n\n${err.stack}`;
  return text;
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}

/** A message that is a JSON list of zod issues (ZodError.message), as sentences; else null. */
function fromJsonText(message: string): string | null {
  const t = message.trim();
  if (!t.startsWith('[') && !t.startsWith('{')) return null;
  try {
    const v = JSON.parse(t) as unknown;
    if (Array.isArray(v) && v.every((i) => i && typeof i === 'object' && 'code' in i && 'path' in i))
      return formatIssues(v as Parameters<typeof formatIssues>[0]);
    return 'the request was refused (details: run again with --debug)';
  } catch {
    return null;
  }
}
