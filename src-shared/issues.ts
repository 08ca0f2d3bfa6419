/**
 * Schema problems in words: the one formatter behind the New run forms (a message beside the field), the `scalar`
 * commands ("option --k must be an integer ≥ 1 (got 2.5)"), the Api's refusals and the checks of files such as
 * an SAE's cfg.json ("'k' must be an integer ≥ 1 (got 2.5) in cfg.json of blocks.0.hook_mlp_out"). A problem
 * says what the value must be (read from the schema, so ranges read as one requirement), and what it was.
 * No raw zod output, JSON or stack trace leaves here.
 */
import type { z } from 'zod';

type AnySchema = z.core.$ZodType;
type Issue = z.core.$ZodIssue;

/** What a formatter may know besides the issue: the schema that failed and the value it was given. */
export interface IssueContext {
  schema?: AnySchema;
  input?: unknown;
}

const defOf = (s: AnySchema) => (s as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;

/** Optional / default / nullable / pipe … wrappers peeled off. */
function unwrap(s: AnySchema): AnySchema {
  for (let i = 0; i < 20; i++) {
    const def = defOf(s);
    const inner = (def.innerType ?? (def.type === 'pipe' ? def.in : undefined)) as AnySchema | undefined;
    if (!inner) return s;
    s = inner;
  }
  return s;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/** The schema that judges the value at `path` (through objects, arrays, records and discriminated unions). */
export function schemaAt(
  schema: AnySchema,
  path: readonly PropertyKey[],
  input?: unknown,
): AnySchema | undefined {
  let s: AnySchema | undefined = unwrap(schema);
  for (let i = 0; i < path.length && s; i++) {
    const def = defOf(s);
    const key = path[i];
    if (def.type === 'object') s = (def.shape as Record<string, AnySchema>)[String(key)];
    else if (def.type === 'array') s = def.element as AnySchema;
    else if (def.type === 'record') s = def.valueType as AnySchema;
    else if (def.type === 'union') {
      // A discriminated union: the option the input's discriminator picks, else the first that has the path.
      const options = def.options as AnySchema[];
      const here = valueAt(input, path.slice(0, i));
      const picked =
        options.find((o) => {
          const shape = defOf(unwrap(o)).shape as Record<string, AnySchema> | undefined;
          const disc = def.discriminator as string | undefined;
          if (!shape || !disc || !shape[disc]) return false;
          const lit = defOf(unwrap(shape[disc])).values as unknown[] | undefined;
          return lit?.includes((here as Record<string, unknown> | undefined)?.[disc]);
        }) ?? options.find((o) => schemaAt(o, path.slice(i)) !== undefined);
      if (!picked) return undefined;
      return schemaAt(picked, path.slice(i), here);
    } else return undefined;
    if (s) s = unwrap(s);
  }
  return s;
}

const num = (n: number) => (Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(6))));

/** "an integer ≥ 1", "a number > 0 and < 1", "an integer from 1 to 8": a number schema's checks as one phrase. */
export function numberRequirement(schema: AnySchema): string {
  const checks = (defOf(schema).checks ?? []) as AnySchema[];
  let int = false;
  let lo: { v: number; inc: boolean } | undefined;
  let hi: { v: number; inc: boolean } | undefined;
  for (const c of checks) {
    const d = defOf(c) as { check?: string; format?: string; value?: number; inclusive?: boolean };
    if (d.check === 'number_format' && /int/.test(d.format ?? '')) int = true;
    if (d.check === 'greater_than' && typeof d.value === 'number' && (!lo || d.value >= lo.v))
      lo = { v: d.value, inc: d.inclusive ?? false };
    if (d.check === 'less_than' && typeof d.value === 'number' && (!hi || d.value <= hi.v))
      hi = { v: d.value, inc: d.inclusive ?? false };
  }
  if (int && lo && !lo.inc) lo = { v: Math.floor(lo.v) + 1, inc: true };
  if (int && hi && !hi.inc) hi = { v: Math.ceil(hi.v) - 1, inc: true };
  const what = int ? 'an integer' : 'a number';
  if (lo && hi && lo.inc && hi.inc) return `${what} from ${num(lo.v)} to ${num(hi.v)}`;
  const parts = [
    lo ? `${lo.inc ? '≥' : '>'} ${num(lo.v)}` : null,
    hi ? `${hi.inc ? '≤' : '<'} ${num(hi.v)}` : null,
  ].filter(Boolean);
  return parts.length ? `${what} ${parts.join(' and ')}` : what;
}

/** A value as a person reads it in a message: numbers and words as they are, structures by their kind. */
export function showValue(v: unknown): string {
  if (typeof v === 'number') return Number.isNaN(v) ? 'not a number' : String(v);
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 37)}…` : v}'`;
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list' : `a list of ${v.length}`;
  if (typeof v === 'object') return 'an object';
  return typeof v;
}

const TYPE_WORDS: Record<string, string> = {
  int: 'an integer',
  number: 'a number',
  string: 'text',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list',
  literal: 'a fixed value',
};

/**
 * A problem in words, without the field's name (the form shows it beside the field; the CLI puts "option --x"
 * in front): "must be an integer ≥ 1 (got 2.5)". `ctx` makes it precise: the schema gives the whole
 * requirement, the input the value that was given.
 */
export function describeIssue(issue: Issue, ctx: IssueContext = {}): string {
  const hasInput = 'input' in ctx;
  const value = hasInput ? valueAt(ctx.input, issue.path) : (issue as { input?: unknown }).input;
  const given = hasInput || 'input' in issue;
  const got = given && value !== undefined ? ` (got ${showValue(value)})` : '';
  const leaf = ctx.schema ? schemaAt(ctx.schema, issue.path, ctx.input) : undefined;
  const leafType = leaf ? defOf(leaf).type : undefined;
  if (given && value === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_union'))
    return 'is required';
  switch (issue.code) {
    case 'invalid_type':
    case 'too_small':
    case 'too_big':
    case 'not_multiple_of':
      if (leafType === 'number') return `must be ${numberRequirement(leaf!)}${got}`;
      break;
    default:
      break;
  }
  switch (issue.code) {
    case 'invalid_type':
      if (!given && /received undefined/.test(issue.message)) return 'is required';
      return `must be ${TYPE_WORDS[issue.expected] ?? `a ${issue.expected}`}${got}`;
    case 'too_small': {
      const min = Number(issue.minimum);
      if (issue.origin === 'string')
        return min <= 1 ? 'is required' : `needs at least ${num(min)} characters`;
      if (issue.origin === 'array') return `needs at least ${num(min)} value${min === 1 ? '' : 's'}`;
      return `must be ${issue.inclusive ? '≥' : '>'} ${num(min)}${got}`;
    }
    case 'too_big': {
      const max = Number(issue.maximum);
      if (issue.origin === 'string') return `must be at most ${num(max)} characters`;
      if (issue.origin === 'array') return `takes at most ${num(max)} values`;
      return `must be ${issue.inclusive ? '≤' : '<'} ${num(max)}${got}`;
    }
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}${got}`;
    case 'invalid_union': {
      const options = (issue as { options?: unknown[] }).options;
      if (options?.length) return `must be one of ${options.map(String).join(', ')}${got}`;
      return `is not valid${got}`;
    }
    case 'unrecognized_keys':
      return `has unknown field${issue.keys.length === 1 ? '' : 's'} ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
    case 'invalid_format':
      return `must be ${issue.format === 'regex' ? 'in the expected format' : `a valid ${issue.format}`}${got}`;
    default:
      return issue.message;
  }
}

/** `a.b.0.c` → "'a.b[0].c'": a field named inside a file or request. */
export function pathName(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join('');
}

/**
 * Every issue of a failed parse as one text: `subject(path)` names the field ("option --k", "'k'"), `where`
 * says where it was ("in cfg.json of blocks.0.hook_mlp_out"). Issues at the root read "<root> must be …".
 */
export function formatIssues(
  issues: readonly Issue[],
  opts: IssueContext & {
    subject?: (path: readonly PropertyKey[]) => string;
    root?: string;
    where?: string;
  } = {},
): string {
  const subject = opts.subject ?? ((p: readonly PropertyKey[]) => `'${pathName(p)}'`);
  const seen = new Set<string>();
  const out: string[] = [];
  for (const issue of issues) {
    const who = issue.path.length === 0 ? (opts.root ?? 'the value') : subject(issue.path);
    const text = `${who} ${describeIssue(issue, opts)}${opts.where ? ` ${opts.where}` : ''}`;
    if (!seen.has(text)) out.push(text);
    seen.add(text);
  }
  return out.join('; ');
}

/** Duck-typed so errors that crossed a worker or a module boundary are still recognised. */
export function isZodError(err: unknown): err is z.ZodError {
  return (
    err instanceof Error &&
    (err.name === 'ZodError' || err.name === '$ZodError') &&
    Array.isArray((err as { issues?: unknown }).issues)
  );
}
