/**
 * scalar reproduce beside A B: two reproductions side by side (the scale check of issue 15). A and B are
 * reproduce run ids of the data dir, their report.json files, or folders holding one (e.g. a reproduction's
 * --out folder from another data dir).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { besideMarkdown, besideReports } from '../../../src-shared/reproduce/beside.ts';
import type { ReproduceReport } from '../../../src-shared/reproduce/report.ts';
import type { ScalarService } from '../../api/service.ts';
import { GLOBAL_OPTIONS } from '../args.ts';
import { openService, printJson, say, UsageError } from '../context.ts';

export const besideUsage = `scalar reproduce beside A B [--out FILE.md] [--json] [--data-dir D]
  A, B: a reproduce run id, its report.json, or a folder holding report.json (a reproduction's --out).
  Prints each one's % reduction vs TopK per setup and pair (mean ± sd over its seeds) and the change B − A with
  its Welch 95 % interval.`;

/** A report from a file, or null when `ref` names no file or folder. */
function reportFromPath(ref: string): unknown {
  if (!fs.existsSync(ref)) return null;
  const file = fs.statSync(ref).isDirectory() ? path.join(ref, 'report.json') : ref;
  if (!fs.existsSync(file)) throw new UsageError(`${ref} is a folder without report.json`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`${file} is not JSON: ${(err as Error).message}`);
  }
}

export function loadReport(ref: string, service: () => ScalarService): ReproduceReport {
  let report = reportFromPath(ref);
  if (report === null) {
    const run = service().store.getRun(ref);
    if (!run) throw new UsageError(`'${ref}' is neither a file nor a run of this data dir`);
    if (run.kind !== 'reproduce') throw new UsageError(`run ${ref} is a ${run.kind} run, not a reproduction`);
    report = (run.summary as { reproduction?: unknown } | null)?.reproduction ?? null;
    if (!report) throw new UsageError(`reproduction ${ref} has no report yet (status ${run.status})`);
  }
  const r = report as Partial<ReproduceReport>;
  if (r.schema !== 1 || !Array.isArray(r.pairs) || !Array.isArray(r.headline) || !Array.isArray(r.seeds))
    throw new UsageError(`${ref} is not a reproduction report (schema 1 with pairs, headline and seeds)`);
  return r as ReproduceReport;
}

export async function reproduceBesideCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...GLOBAL_OPTIONS, out: { type: 'string' } },
    allowPositionals: true,
  });
  if (values.help) return (say(besideUsage), 0);
  if (positionals.length !== 2) throw new UsageError('give two reproductions: scalar reproduce beside A B');
  let service: ScalarService | null = null;
  const open = () => (service ??= openService(values));
  try {
    const [a, b] = positionals.map((ref) => loadReport(ref, open));
    const beside = besideReports(a, b);
    const md = besideMarkdown(beside);
    if (values.out) {
      fs.mkdirSync(path.dirname(path.resolve(values.out)), { recursive: true });
      fs.writeFileSync(values.out, md);
      say(`written: ${values.out}`);
    }
    if (values.json) printJson(beside);
    else process.stdout.write(md);
    return 0;
  } finally {
    if (service) await (service as ScalarService).close();
  }
}
