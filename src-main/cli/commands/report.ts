/**
 * scalar report: a comparison of runs as files — the compare page's "export all" from the command line. Figures
 * (SVG, PNG at 2×) come from the same builders the app draws with (src-shared/figures, in Node through linkedom
 * and resvg); data behind each as CSV and JSON; tables (metric summary, config diff, reductions as CSV and LaTeX).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { comparisonFigures, collectComparison } from '../../../src-shared/compare/report.ts';
import { GLOBAL_OPTIONS, openService, printJson, say, UsageError } from '../context.ts';

export const usage = `scalar report --runs RUN_ID[,RUN_ID...] --out DIR [--baseline SCALAR_RUN] [--bootstrap N] [--seed S] [--json]
  figures/*.svg and *.png (2×), data/*.csv (one row per point) and *.json, tables/ (config-diff.csv,
  metrics.csv, reductions.csv, reductions.tex) and comparison.json for 2 or more runs of any kind. SCALAR runs
  are compared with the baseline (default: the first TopK one) as \`scalar compare\` does.`;

export async function reportCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ...GLOBAL_OPTIONS,
      runs: { type: 'string', multiple: true },
      out: { type: 'string', short: 'o' },
      baseline: { type: 'string' },
      bootstrap: { type: 'string' },
      seed: { type: 'string' },
    },
    allowPositionals: true,
  });
  if (values.help) return (say(usage), 0);
  const ids = [...(values.runs ?? []).flatMap((r) => r.split(',')), ...positionals]
    .map((s) => s.trim())
    .filter(Boolean);
  if (ids.length === 0 || !values.out) throw new UsageError('give --runs RUN_ID... and --out DIR');
  const intOpt = (v: string | undefined, name: string) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer`);
    return n;
  };
  const resamples = intOpt(values.bootstrap, 'bootstrap');
  const seed = intOpt(values.seed, 'seed');
  const service = openService(values);
  try {
    const data = await collectComparison((m, p) => service.call(m, p), [...new Set(ids)], {
      baseline: values.baseline,
      resamples,
      seed,
    });
    for (const c of data.comparisons) if (c.error) say(`warning: ${c.run} vs ${c.baseline}: ${c.error}`);
    const figures = comparisonFigures(data);
    // linkedom and resvg load only for this command.
    const { writeReport } = await import('../../figures/render.ts');
    const dir = path.resolve(values.out);
    const files = writeReport(dir, data, figures);
    say(`wrote ${figures.length} figure(s) and ${files.length} file(s) to ${dir}`);
    if (values.json) printJson({ out: dir, figures: figures.map((f) => f.name), files });
    return 0;
  } finally {
    await service.close();
  }
}
