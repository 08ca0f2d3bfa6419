/**
 * The comparer's pure parts with hand-computed expectations: config flattening and diff, seed groups with
 * mean ± sd and the within-noise rule, EMA smoothing, metric summaries, the reduction table as CSV and LaTeX,
 * the long CSV of chart series (one row per point), which run is compared with which, the reuse matrix, and
 * log axes changing a chart's ticks.
 */
import { describe, expect, it } from 'vitest';
import type { RunDetail } from '../../src-shared/api.ts';
import type { ScalarComparison } from '../../src-shared/compare/api.ts';
import { configDiff, flattenConfig } from '../../src-shared/compare/configDiff.ts';
import { comparisonPlan, describeRuns, reuseMatrix } from '../../src-shared/compare/data.ts';
import { groupDifference, meanSd, seedGroups, withinNoise } from '../../src-shared/compare/seeds.ts';
import { ema, summarizeSeries } from '../../src-shared/compare/series.ts';
import {
  csvCell,
  latexEscape,
  reductionCsv,
  reductionLatex,
  reductionRows,
  seriesCsv,
} from '../../src-shared/compare/tables.ts';
import { xTicksFor } from '../../src-shared/figures/line.ts';
import { log2Ticks, formatPow2 } from '../../src-shared/figures/theme.ts';

describe('config diff', () => {
  it('flattens nested keys; arrays of plain values stay one value, arrays of objects go by index', () => {
    expect(flattenConfig({ a: { b: 1, c: [2, 3] }, d: 'x', e: null, f: [{ g: true }], h: {} })).toEqual({
      'a.b': '1',
      'a.c': '[2,3]',
      d: 'x',
      e: 'null',
      'f.0.g': 'true',
      h: '{}',
    });
  });

  it('lists every key in order, with a value per run (null where absent) and whether they differ', () => {
    const rows = configDiff([
      { arch: 'topk', schedule: { steps: 100, lr: 0.001 }, seed: 0 },
      { arch: 'staircase', schedule: { steps: 100 }, seed: 0 },
    ]);
    expect(rows).toEqual([
      { key: 'arch', values: ['topk', 'staircase'], differs: true },
      { key: 'schedule.lr', values: ['0.001', null], differs: true },
      { key: 'schedule.steps', values: ['100', '100'], differs: false },
      { key: 'seed', values: ['0', '0'], differs: false },
    ]);
  });
});

describe('seed groups', () => {
  const sae = (arch: string, seed: number, width = 64) => ({
    kind: 'train-sae',
    config: { arch, setup: 'tblock', width, seed, schedule: { steps: 10 } },
  });
  const scalar = (id: string, arch: string, seed: number, width = 64) => ({
    id,
    kind: 'scalar',
    seed,
    config: { kind: 'scalar', config: { sae: `sae-${id}`, preset: 'quick', seed } },
    sourceConfig: sae(arch, seed, width),
    arch,
    setup: 'tblock',
  });

  it('groups runs equal but for their seeds (their SAE runs folded in), in first-seen order', () => {
    const groups = seedGroups([
      scalar('a', 'topk', 0),
      scalar('b', 'staircase', 0),
      scalar('c', 'topk', 1),
      scalar('d', 'topk', 2),
      scalar('e', 'staircase', 1),
    ]);
    expect(groups.map((g) => [g.label, g.runIds, g.seeds])).toEqual([
      ['scalar topk · tblock', ['a', 'c', 'd'], [0, 1, 2]],
      ['scalar staircase · tblock', ['b', 'e'], [0, 1]],
    ]);
  });

  it('keeps runs that differ in anything else apart, and tells same-looking groups apart', () => {
    const groups = seedGroups([scalar('a', 'topk', 0), scalar('b', 'topk', 1, 128)]);
    expect(groups.map((g) => g.label)).toEqual(['scalar topk · tblock #1', 'scalar topk · tblock #2']);
  });

  it('mean ± sample sd: [1, 2, 3, 4] → 2.5 ± √(5/3); one value has sd 0; non-finite values are left out', () => {
    const m = meanSd([1, 2, 3, 4])!;
    expect(m.mean).toBe(2.5);
    expect(m.sd).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(m.n).toBe(4);
    expect(meanSd([7, null, NaN])).toEqual({ mean: 7, sd: 0, n: 1 });
    expect(meanSd([])).toBeNull();
  });

  it('within noise: a CI holding 0, or a difference no larger than the seed spread', () => {
    expect(withinNoise(1.5, { ci: [-0.5, 3] })).toBe('the 95 % CI includes 0');
    expect(withinNoise(1.5, { ci: [0.5, 3] })).toBeNull();
    expect(withinNoise(0.8, { sd: 1 })).toBe('smaller than the seed spread (sd)');
    expect(withinNoise(-1, { sd: 1 })).toBe('smaller than the seed spread (sd)');
    expect(withinNoise(1.2, { sd: 1 })).toBeNull();
    expect(withinNoise(null, { sd: 1 })).toBeNull();
    // 10 ± 1 vs 9 ± 2: difference 1, spread 2 → within noise; 14 ± 1 vs 9 ± 2: 5 > 2 → not.
    expect(groupDifference({ mean: 10, sd: 1, n: 3 }, { mean: 9, sd: 2, n: 3 })).toEqual({
      diff: 1,
      spread: 2,
      noise: 'smaller than the seed spread (sd)',
    });
    expect(groupDifference({ mean: 14, sd: 1, n: 3 }, { mean: 9, sd: 2, n: 3 }).noise).toBeNull();
  });
});

describe('series', () => {
  it('EMA: s₀ = v₀, sᵢ = α·sᵢ₋₁ + (1−α)·vᵢ; weight 0 leaves the points alone', () => {
    const pts = [0, 10, 10, 4].map((y, x) => ({ x, y }));
    expect(ema(pts, 0.5).map((p) => p.y)).toEqual([0, 5, 7.5, 5.75]);
    expect(ema(pts, 0)).toBe(pts);
  });

  it('summary: final, best (lower for a loss, higher for EV), min, max and the value at a step', () => {
    const pts = [
      { step: 20, value: 2 },
      { step: 0, value: 3 },
      { step: 10, value: 1 },
    ];
    expect(summarizeSeries(pts, 'val_loss', 15)).toEqual({
      count: 3,
      final: 2,
      finalStep: 20,
      best: 1,
      bestStep: 10,
      min: 1,
      max: 3,
      atStep: 1,
      atStepStep: 10,
    });
    const ev = summarizeSeries(pts, 'explained_variance');
    expect([ev.best, ev.bestStep, ev.atStep]).toEqual([3, 0, null]);
    expect(summarizeSeries([], 'x').final).toBeNull();
  });
});

const comparison: ScalarComparison = {
  run: 'scalar-b',
  baseline: 'scalar-a',
  resamples: 100,
  seed: 0,
  pairs: [
    {
      pair: 0,
      label: 'tblock:0',
      reduction_abs_pct: 30.0912,
      reduction_rel_pct: 30.0912,
      reduction_log2_pct: 18.127,
      reduction_abs_ci: [29.891, 30.259],
      reduction_rel_ci: [29.891, 30.259],
      reduction_log2_ci: [18.11, 18.14],
    },
    {
      pair: 1,
      label: 'tblock:1',
      reduction_abs_pct: 1.5,
      reduction_rel_pct: 1.5,
      reduction_log2_pct: -2,
      reduction_abs_ci: [-0.4, 3.1],
      reduction_rel_ci: [-0.4, 3.1],
      reduction_log2_ci: [-3, -1],
    },
  ],
  aggregate: {
    abs: { reduction_pct: 20.5, paper_style_reduction_pct: -187.049 },
    rel: { reduction_pct: 20.5, paper_style_reduction_pct: 12 },
  },
};

describe('reduction table', () => {
  const rows = reductionRows(comparison, 'staircase_s0 & co', 'topk 100%');

  it('has a row per pair, then the one-unit and the paper-style aggregate; a CI holding 0 is within noise', () => {
    expect(rows.map((r) => [r.pair, r.kind, r.abs, r.noise])).toEqual([
      ['tblock:0', 'pair', 30.0912, null],
      ['tblock:1', 'pair', 1.5, 'the 95 % CI includes 0'],
      ['aggregate (one unit)', 'aggregate', 20.5, null],
      ['aggregate (paper-style, mixed printed units)', 'paper-style', -187.049, null],
    ]);
  });

  it('CSV: a header and one line per row', () => {
    const lines = reductionCsv(rows).trimEnd().split('\n');
    expect(lines).toHaveLength(1 + 4);
    expect(lines[1]).toBe(
      'scalar-b,staircase_s0 & co,scalar-a,topk 100%,tblock:0,30.0912,29.891,30.259,30.0912,29.891,30.259,18.127,18.11,18.14,',
    );
    expect(lines[3]).toBe(
      'scalar-b,staircase_s0 & co,scalar-a,topk 100%,aggregate (one unit),20.5,,,20.5,,,,,,',
    );
  });

  it('LaTeX: booktabs, escaped names, two decimals as `scalar compare` prints, CIs in brackets, -- for none', () => {
    const tex = reductionLatex(rows);
    expect(tex).toContain('\\begin{tabular}{lllrrr}');
    expect(tex).toContain('\\toprule');
    expect(tex).toContain(
      'staircase\\_s0 \\& co & topk 100\\% & tblock:0 & $30.09$ {\\scriptsize $[29.89, 30.26]$} & $30.09$ {\\scriptsize $[29.89, 30.26]$} & $18.13$ {\\scriptsize $[18.11, 18.14]$} \\\\',
    );
    expect(tex).toContain('& aggregate (one unit) & $20.50$ & $20.50$ & -- \\\\');
    expect(tex).toContain('aggregate (paper-style, mixed printed units) & $-187.05$ & $12.00$ & -- \\\\');
    expect(tex.trimEnd().endsWith('\\end{table}')).toBe(true);
    expect(latexEscape('a_b{c}~^\\')).toBe(
      'a\\_b\\{c\\}\\textasciitilde{}\\textasciicircum{}\\textbackslash{}',
    );
  });
});

describe('CSV of chart data', () => {
  it('one row per point (long format), quoted where needed', () => {
    const csv = seriesCsv(
      [
        { label: 'a, "quoted"', points: [1, 2, 3].map((x) => ({ x, y: x * 2 })) },
        {
          label: 'b',
          points: [
            { x: 1, y: 0.5, lo: 0.4, hi: 0.6 },
            { x: 2, y: NaN },
          ],
        },
      ],
      'N',
      'kl',
    );
    const lines = csv.trimEnd().split('\n');
    expect(lines).toEqual([
      'series,N,kl,lo,hi',
      '"a, ""quoted""",1,2,,',
      '"a, ""quoted""",2,4,,',
      '"a, ""quoted""",3,6,,',
      'b,1,0.5,0.4,0.6',
      'b,2,,,',
    ]);
    expect(csvCell(Infinity)).toBe('');
  });
});

function detail(id: string, kind: string, seed: number, extra: Partial<RunDetail> = {}): RunDetail {
  return {
    id,
    kind,
    name: id,
    parentId: null,
    status: 'completed',
    seed,
    backend: null,
    createdAt: '',
    startedAt: null,
    finishedAt: null,
    wallSeconds: null,
    progress: null,
    summary: {},
    config: {},
    error: null,
    note: '',
    tags: [],
    arch: null,
    setup: 'tblock',
    headline: {},
    childCount: 0,
    parentName: null,
    metricKeys: [],
    artifacts: [],
    ancestors: [],
    children: [],
    statusHistory: [],
    lmRef: null,
    ...extra,
  };
}

describe('which run is compared with which', () => {
  const run = (id: string, arch: string, seed: number, setup = 'tblock') => {
    const src = detail(`sae-${id}`, 'sae', seed, {
      arch,
      setup,
      config: { kind: 'train-sae', config: { arch, setup, seed } },
    });
    const d = detail(id, 'scalar', seed, {
      setup,
      config: { kind: 'scalar', config: { sae: src.id, seed } },
    });
    return { d, src };
  };
  const plan = (list: ReturnType<typeof run>[], baseline: string) =>
    comparisonPlan(
      describeRuns(
        list.map((x) => x.d),
        list.map((x) => x.src),
      ),
      baseline,
    );

  it('pairs each run with the baseline group’s run of the same seed, else the baseline itself', () => {
    const list = [
      run('t0', 'topk', 0),
      run('t1', 'topk', 1),
      run('s0', 'staircase', 0),
      run('s1', 'staircase', 1),
      run('d2', 'staircase-detach', 2),
    ];
    expect(plan(list, 't0')).toEqual([
      { run: 's0', baseline: 't0' },
      { run: 's1', baseline: 't1' },
      { run: 'd2', baseline: 't0' },
    ]);
    // The other way round: TopK runs measured against the staircase group.
    expect(plan(list, 's1')).toEqual([
      { run: 't0', baseline: 's0' },
      { run: 't1', baseline: 's1' },
      { run: 'd2', baseline: 's1' },
    ]);
  });

  it('compares a run of another setup with the first TopK run of its setup; none there, no comparison', () => {
    const list = [
      run('t0', 'topk', 0),
      run('j0', 'jsae', 0, 'fflayer'),
      run('s0', 'staircase', 0),
      run('f0', 'topk', 0, 'fflayer'),
      run('b0', 'staircase', 0, 'ffblock'),
    ];
    expect(plan(list, 't0')).toEqual([
      { run: 'j0', baseline: 'f0' },
      { run: 's0', baseline: 't0' },
    ]);
  });

  it('dashes the lines of runs past the eighth colour', () => {
    const list = Array.from({ length: 10 }, (_, i) => run(`r${i}`, 'topk', i));
    const runs = describeRuns(
      list.map((x) => x.d),
      list.map((x) => x.src),
    );
    expect(runs.map((r) => r.dashed)).toEqual([...Array(8).fill(false), true, true]);
    expect(runs[8].color).toBe(runs[0].color);
  });
});

describe('staircase reuse matrix', () => {
  it('positions × chunks from the SAE summary’s l0_per_chunk (missing chunks are null)', () => {
    const sae = detail('sae', 'sae', 0, {
      summary: {
        saes: [
          { hook: 'blocks.0.hook_resid_pre', l0_per_chunk: [8] },
          { hook: 'blocks.1.hook_resid_pre', l0_per_chunk: [3, 5] },
        ],
      },
    });
    expect(reuseMatrix(sae)).toEqual([
      { position: 'blocks.0.hook_resid_pre', chunk: 0, value: 8 },
      { position: 'blocks.0.hook_resid_pre', chunk: 1, value: null },
      { position: 'blocks.1.hook_resid_pre', chunk: 0, value: 3 },
      { position: 'blocks.1.hook_resid_pre', chunk: 1, value: 5 },
    ]);
    expect(
      reuseMatrix(detail('t', 'sae', 0, { summary: { saes: [{ hook: 'h', l0_per_chunk: null }] } })),
    ).toEqual([]);
  });
});

describe('log axes', () => {
  it('toggling a log x axis changes the ticks: none fixed on a linear axis, powers of two on log₂', () => {
    const xs = [1, 2, 4, 1024, 4096];
    expect(xTicksFor(xs, { logX: false })).toBeUndefined();
    expect(xTicksFor(xs, { logX: true, xBase: 2 })).toEqual([1, 4, 16, 64, 256, 1024, 4096]);
    expect(xTicksFor(xs, { logX: true })).toEqual([1, 10, 100, 1000]);
    expect(log2Ticks(1, 8)).toEqual([1, 2, 4, 8]);
    expect([1, 1024, 2 ** 18].map(formatPow2)).toEqual(['2⁰', '2¹⁰', '2¹⁸']);
  });
});
