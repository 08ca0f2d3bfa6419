/**
 * `scalar report` in a child process on a store seeded through the Store API (hand-made SAE and SCALAR runs with
 * stored curves and per-token KL tables; no training): every SVG is well-formed with a <svg> root, every PNG is
 * twice its SVG's size, the data CSVs have one row per point, the reduction table equals the Api's
 * `compare.scalar` (the `scalar compare` code path) to the printed precision, and the page's reads record nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScalarService } from '../../src-main/api/service.ts';
import { pct } from '../../src-shared/compare/tables.ts';
import { GRID, pngSize, seedComparison, xmlProblems } from '../unit/compare.helpers.ts';
import { runCli, type CliResult } from './lmCli.helpers.ts';

let tmp: string;
let dataDir: string;
let out: string;
let ids: { topk: string[]; staircase: string[]; saes: string[] };
let result: CliResult;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-report-'));
  dataDir = path.join(tmp, 'data');
  out = path.join(tmp, 'out');
  const service = new ScalarService({ dataDir, mode: 'cli', autoLatentStats: false });
  try {
    const seeded = seedComparison(service.store, 3);
    ids = {
      topk: seeded.topk.map((r) => r.id),
      staircase: seeded.staircase.map((r) => r.id),
      saes: seeded.saes.slice(0, 2).map((r) => r.id),
    };
  } finally {
    await service.close();
  }
  result = await runCli([
    'report',
    '--runs',
    [...ids.topk, ...ids.staircase].join(','),
    '--runs',
    ids.saes.join(','),
    '--out',
    out,
    '--bootstrap',
    '200',
    '--data-dir',
    dataDir,
    '--json',
  ]);
}, 120_000);

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const read = (rel: string) => fs.readFileSync(path.join(out, rel), 'utf8');
const csvRows = (rel: string) => read(rel).trimEnd().split('\n').slice(1);

/** One CSV line's cells (quoted cells may hold commas and doubled quotes). */
function cells(line: string): string[] {
  const out: string[] = [];
  const re = /("(?:[^"]|"")*"|[^,]*)(,|$)/g;
  for (let m = re.exec(line); m && m.index < line.length + 1; m = re.exec(line)) {
    out.push(m[1].startsWith('"') ? m[1].slice(1, -1).replace(/""/g, '"') : m[1]);
    if (m[2] === '') break;
  }
  return out;
}

describe('scalar report', () => {
  it('exits 0 and lists figures of every kind', () => {
    expect(result.code, result.stderr).toBe(0);
    const figures = (result.json as { figures: string[] }).figures;
    expect(figures).toEqual(
      expect.arrayContaining([
        'training-train_loss',
        'scalar-tblock-0-log2',
        'scalar-tblock-0-linear',
        'scalar-tblock-1-log2',
        `reuse-${ids.staircase[0]}`,
        'pareto-auc_abs-ce',
        'pareto-auc_rel-width',
        'seeds-scalar-auc_abs',
      ]),
    );
  });

  it('writes well-formed SVGs and PNGs at twice their size', () => {
    const svgs = fs.readdirSync(path.join(out, 'figures')).filter((f) => f.endsWith('.svg'));
    expect(svgs.length).toBeGreaterThan(10);
    for (const f of svgs) {
      const svg = read(`figures/${f}`);
      expect(xmlProblems(svg), f).toEqual([]);
      const m =
        /^<svg [^>]*height="(\d+)" width="(\d+)"/.exec(svg) ??
        /^<svg [^>]*width="(\d+)" height="(\d+)"/.exec(svg);
      expect(m, f).not.toBeNull();
      const width = Number(/ width="(\d+)"/.exec(svg)![1]);
      const height = Number(/ height="(\d+)"/.exec(svg)![1]);
      expect(width).toBe(720);
      const png = pngSize(fs.readFileSync(path.join(out, 'figures', f.replace(/\.svg$/, '.png'))));
      expect(png, f).toEqual({ width: 2 * width, height: 2 * height });
    }
  });

  it('writes the data behind each figure: one CSV row per point, and the same in JSON', () => {
    // 6 SCALAR runs × 11 budgets.
    expect(csvRows('data/scalar-tblock-0-log2.csv')).toHaveLength(6 * GRID.length);
    const json = JSON.parse(read('data/scalar-tblock-0-log2.json')) as { series: { points: unknown[] }[] };
    expect(json.series.map((s) => s.points.length)).toEqual(Array(6).fill(GRID.length));
    // 2 SAE runs × 11 recorded steps of train_loss.
    expect(csvRows('data/training-train_loss.csv')).toHaveLength(2 * 11);
    // 2 staircase SAEs × 2 positions × 2 chunks (the first SAE of the list is a TopK one: no matrix).
    expect(fs.existsSync(path.join(out, `data/reuse-${ids.saes[0]}.csv`))).toBe(false);
    expect(csvRows(`data/reuse-${ids.staircase[0]}.csv`)).toHaveLength(4);
  });

  it('writes the reduction table equal to compare.scalar (as printed), and reads recorded nothing', async () => {
    const rows = csvRows('tables/reductions.csv').map(cells);
    // 3 staircase runs vs the TopK run of their seed: 2 pairs + 2 aggregates each.
    expect(rows).toHaveLength(3 * 4);
    const service = new ScalarService({ dataDir, mode: 'cli', autoLatentStats: false });
    try {
      for (const [i, run] of ids.staircase.entries()) {
        const c = await service.call('compare.scalar', { run, baseline: ids.topk[i], resamples: 200 });
        const mine = rows.filter((r) => r[0] === run);
        expect(mine.map((r) => r[2])).toEqual(Array(4).fill(ids.topk[i]));
        expect(mine.map((r) => pct(Number(r[5])))).toEqual([
          pct(c.pairs[0].reduction_abs_pct),
          pct(c.pairs[1].reduction_abs_pct),
          pct(c.aggregate.abs.reduction_pct),
          pct(c.aggregate.abs.paper_style_reduction_pct),
        ]);
        expect(pct(Number(mine[0][6]))).toBe(pct(c.pairs[0].reduction_abs_ci[0]));
      }
      expect(service.store.getComparisons(ids.staircase[0])).toEqual([]);
    } finally {
      await service.close();
    }
    const tex = read('tables/reductions.tex');
    expect(tex).toContain('\\begin{tabular}');
    expect(tex.match(/aggregate \(one unit\)/g)).toHaveLength(3);
  });
});
