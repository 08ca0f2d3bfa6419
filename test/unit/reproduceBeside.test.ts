/**
 * Two reproductions side by side (the scale check): the change B − A and its Welch interval, worked by hand;
 * pairs matched by index, pairs only the deeper LM has shown with A empty; the circuit target and TopK rows left out.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadReport } from '../../src-main/cli/commands/reproduceBeside.ts';
import { besideMarkdown, besideReports, welchChange } from '../../src-shared/reproduce/beside.ts';
import type { PairRow, ReproduceReport } from '../../src-shared/reproduce/report.ts';
import { judge } from '../../src-shared/reproduce/verdict.ts';

const up = { kind: 'sign', sign: 1 } as const;

function report(lm: string, rel: Record<number, number[]>, extra: Partial<PairRow>[] = []): ReproduceReport {
  const pairs: PairRow[] = Object.entries(rel).map(([p, values]) => ({
    setup: 'ffblock',
    arch: 'staircase',
    pair: Number(p),
    target: 'model',
    abs: judge(
      values.map((v) => v - 100),
      up,
    ),
    rel: judge(values, up),
    published_abs: null,
    published_rel: null,
  }));
  for (const e of extra) pairs.push({ ...pairs[0], ...e });
  return {
    schema: 1,
    title: `quick on ${lm}`,
    preset: 'quick',
    seeds: [0, 1],
    setups: ['ffblock'],
    variants: false,
    lm,
    backend: 'wasm',
    rule: '',
    claims: [],
    findings: [],
    headline: [
      {
        setup: 'ffblock',
        arch: 'staircase',
        measure: 'relative',
        aggregation: 'one unit',
        ours: judge(rel[0], up),
        published: null,
      },
    ],
    pairs,
    not_run: [],
    figures: [],
    runs: [],
  };
}

describe('welchChange', () => {
  it('a wide interval at df ⌊1.68⌋ = 1: no clear change', () => {
    // A 40, 44: mean 42, sd 2√2; B 50, 52, 54: mean 52, sd 2. va = 8/2 = 4, vb = 4/3;
    // se = √(16/3) = 2.3094; df = (16/3)² / (16/1 + (16/9)/2) = 1.684 → t(0.975, 1) = 12.706; half 29.343.
    const c = welchChange(judge([40, 44], up), judge([50, 52, 54], up))!;
    expect(c.mean).toBeCloseTo(10, 12);
    expect(c.df).toBeCloseTo(1.6842, 3);
    expect(c.ci[0]).toBeCloseTo(10 - 29.343, 2);
    expect(c.ci[1]).toBeCloseTo(10 + 29.343, 2);
    expect(c.verdict).toBe('no clear change');
  });

  it('tight seeds: larger; swapped: smaller', () => {
    // A 10, 10.2: sd 0.14142, va 0.01; B 20, 20.2, 20.4: sd 0.2, vb 0.013333; se 0.152753;
    // df = 0.023333² / (0.0001 + 0.000088889) = 2.882 → t(0.975, 2) = 4.303; half 0.65729.
    const c = welchChange(judge([10, 10.2], up), judge([20, 20.2, 20.4], up))!;
    expect(c.df).toBeCloseTo(2.882, 2);
    expect(c.ci[0]).toBeCloseTo(10.1 - 0.65729, 3);
    expect(c.ci[1]).toBeCloseTo(10.1 + 0.65729, 3);
    expect(c.verdict).toBe('larger');
    expect(welchChange(judge([20, 20.2, 20.4], up), judge([10, 10.2], up))!.verdict).toBe('smaller');
  });

  it('no interval with one seed on a side', () => {
    expect(welchChange(judge([10], up), judge([20, 21], up))).toBeNull();
    expect(welchChange(null, judge([20, 21], up))).toBeNull();
  });
});

describe('besideReports', () => {
  const a = report('four-layer', { 0: [40, 44], 1: [50, 52] });
  const b = report('six-layer', { 0: [60, 62], 1: [50, 54], 2: [70, 72] }, [
    { target: 'circuit', pair: 0 },
    { arch: 'topk', pair: 0 },
  ]);
  const r = besideReports(a, b);

  it('matches pairs by index, keeps the deeper pairs with A empty, leaves out TopK and circuit rows', () => {
    const rel = r.cells.filter((c) => c.measure === 'relative');
    expect(rel.map((c) => c.pair)).toEqual([null, 0, 1, 2]);
    expect(rel.every((c) => c.arch === 'staircase')).toBe(true);
    expect(rel[1].a!.mean).toBe(42);
    expect(rel[1].b!.mean).toBe(61);
    expect(rel[3].a).toBeNull();
    expect(rel[3].change).toBeNull();
    expect(r.a.pairs).toBe(2);
    expect(r.b.pairs).toBe(3);
  });

  it('writes a markdown table with the change per pair', () => {
    const md = besideMarkdown(r);
    expect(md).toContain('| ffblock | staircase | 0 | 42.0 ± 2.8 (n 2) | 61.0 ± 1.4 (n 2) |');
    expect(md).toContain('| ffblock | staircase | 2 | — | 71.0 ± 1.4 (n 2) | — | — |');
  });
});

describe('scalar reproduce beside: reading a report', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'beside-'));
  const noService = () => {
    throw new Error('no data dir should be opened for a file');
  };

  it('reads report.json from a file or a folder holding it', () => {
    const r = report('four-layer', { 0: [40, 44] });
    fs.writeFileSync(path.join(dir, 'report.json'), JSON.stringify(r));
    expect(loadReport(dir, noService).lm).toBe('four-layer');
    expect(loadReport(path.join(dir, 'report.json'), noService).pairs).toHaveLength(1);
  });

  it('refuses what is not a report, with a sentence naming it', () => {
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, '{"schema": 2}');
    expect(() => loadReport(bad, noService)).toThrow(/is not a reproduction report/);
    const garbled = path.join(dir, 'garbled.json');
    fs.writeFileSync(garbled, '{');
    expect(() => loadReport(garbled, noService)).toThrow(/is not JSON/);
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'beside-empty-'));
    expect(() => loadReport(empty, noService)).toThrow(/folder without report.json/);
  });
});
