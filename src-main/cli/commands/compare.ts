/** scalar compare: % reduction of SCALAR scores vs a baseline run, per pair and aggregated (SPEC §4.4). */
import { parseArgs } from 'node:util';
import { acrossSeeds, compareRuns } from '../../jobs/scalarResults.ts';
import { GLOBAL_OPTIONS, openService, printJson, say, UsageError } from '../context.ts';

export const usage = `scalar compare --run SCALAR_RUN[,RUN...] --baseline SCALAR_RUN[,RUN...] [--bootstrap N] [--seed S] [--json]
  one --run per --baseline, in order (e.g. one per seed); with several, mean ± sd across them`;

export async function compareCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...GLOBAL_OPTIONS,
      run: { type: 'string' },
      baseline: { type: 'string' },
      bootstrap: { type: 'string' },
      seed: { type: 'string' },
    },
  });
  if (values.help) return (say(usage), 0);
  const runs = values.run?.split(',') ?? [];
  const baselines = values.baseline?.split(',') ?? [];
  if (runs.length === 0 || runs.length !== baselines.length)
    throw new UsageError(`give as many --run as --baseline ids\n${usage}`);
  const service = openService(values);
  try {
    const comparisons = runs.map((r, i) =>
      compareRuns(service.store, r, baselines[i], Number(values.bootstrap ?? 1000), Number(values.seed ?? 0)),
    );
    for (const c of comparisons) {
      say(`${c.run} vs ${c.baseline}:`);
      for (const p of c.pairs) {
        say(
          `  ${p.label}: absolute ${p.reduction_abs_pct.toFixed(2)} % [${p.reduction_abs_ci.map((v) => v.toFixed(2)).join(', ')}]  relative ${p.reduction_rel_pct.toFixed(2)} %  log2-axis ${p.reduction_log2_pct.toFixed(2)} %`,
        );
      }
      say(
        `  aggregate (one unit): absolute ${c.aggregate.abs.reduction_pct.toFixed(2)} %, relative ${c.aggregate.rel.reduction_pct.toFixed(2)} %; paper-style (mixed printed units): ${c.aggregate.abs.paper_style_reduction_pct.toFixed(2)} % / ${c.aggregate.rel.paper_style_reduction_pct.toFixed(2)} %`,
      );
    }
    const seeds = comparisons.length > 1 ? acrossSeeds(comparisons) : null;
    if (seeds)
      say(
        `across ${comparisons.length} seeds: aggregate absolute ${seeds.aggregate.abs.mean.toFixed(2)} ± ${seeds.aggregate.abs.sd.toFixed(2)} %, relative ${seeds.aggregate.rel.mean.toFixed(2)} ± ${seeds.aggregate.rel.sd.toFixed(2)} %`,
      );
    if (values.json) printJson({ comparisons, across_seeds: seeds });
    return 0;
  } finally {
    await service.close();
  }
}
