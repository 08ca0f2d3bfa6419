/**
 * The SCALAR report (Tables 1–3 with SPEC §4.5's published values beside ours, Table 7 raw scores, Table 8 SAE
 * quality) on a small hand-made input, and the pipeline's curve figure (the shared Plot figure rendered in Node:
 * well-formed SVG, one line per series, log₂ edge ticks).
 */
import { describe, expect, it } from 'vitest';

import {
  renderReport,
  type ReportComparison,
  type ReportInput,
} from '../../src-main/engine/scalar/report.ts';
import { figureSvg } from '../../src-main/figures/render.ts';
import { lineFigure } from '../../src-shared/figures/line.ts';

function comparison(
  setup: string,
  arch: string,
  pair: number,
  seed: number,
  abs: number,
  rel: number,
  log2: number,
): ReportComparison {
  return {
    setup,
    pair,
    arch,
    baseline: 'topk',
    seed,
    reduction_abs_pct: abs,
    reduction_rel_pct: rel,
    reduction_log2_pct: log2,
    reduction_abs_ci: [abs - 5, abs + 5],
    reduction_rel_ci: [rel - 5, rel + 5],
    reduction_log2_ci: [log2 - 1, log2 + 1],
  };
}

const INPUT: ReportInput = {
  title: 'SCALAR report (test)',
  backend: 'wasm',
  lm: { ref: 'lm-test', val_loss: 1.73431 },
  preset: 'quick',
  scores: [
    {
      setup: 'ffblock',
      pair: 0,
      arch: 'staircase',
      seed: 0,
      edges: 262144,
      auc_abs: 13107.2,
      auc_rel: 0.05,
      auc_log2: 1.23456,
      auc_abs_ci: [12000, 14000.04],
      full_circuit_kl: 0.08312,
    },
  ],
  comparisons: [
    comparison('ffblock', 'staircase', 0, 0, 50, 70, 30),
    comparison('ffblock', 'staircase', 1, 0, -2.5, 48, 12),
    // Two seeds of tblock pair 1: mean ± sd across seeds, no single-run interval.
    comparison('tblock', 'staircase', 1, 0, 10, 60, 1),
    comparison('tblock', 'staircase', 1, 1, 20, 64, 3),
    comparison('fflayer', 'jsae', 2, 0, 5, 6, 7),
  ],
  aggregates: [
    {
      setup: 'ffblock',
      arch: 'staircase',
      baseline: 'topk',
      seed: 0,
      abs: { reduction_pct: 12.5, paper_style_reduction_pct: 33.25 },
      rel: { reduction_pct: 61.0, paper_style_reduction_pct: 58.75 },
    },
  ],
  saes: [
    {
      setup: 'tblock',
      arch: 'topk',
      seed: 0,
      hook: 'blocks.0.hook_resid_pre',
      d_sae: 512,
      l0: 10,
      explained_variance: 0.91234,
      ce_loss_increase: 0.04561,
      compound_ce_loss_increase: 0.50771,
    },
  ],
  figures: ['figures/ffblock.svg'],
};

describe('renderReport', () => {
  const { markdown, json } = renderReport(INPUT);
  const lines = markdown.split('\n');

  it('Tables 1–3 in order, each row with the published value beside ours', () => {
    const t1 = lines.indexOf('## Table 1 — fflayer: jsae vs topk, % reduction per pair');
    const t2 = lines.indexOf('## Table 2 — ffblock: staircase vs topk, % reduction per pair');
    const t3 = lines.indexOf('## Table 3 — tblock: staircase vs topk, % reduction per pair');
    expect(t1).toBeGreaterThan(0);
    expect(t2).toBeGreaterThan(t1);
    expect(t3).toBeGreaterThan(t2);
    // Columns: pair | absolute (ours) [CI] | absolute (paper) | relative (ours) [CI] | relative (paper) | log₂.
    // Table 2 published (SPEC §4.5): absolute 55.46, −1.53; relative 77.78, 49.24.
    expect(lines).toContain('| 0 | 50.00 [45.00, 55.00] | 55.46 | 70.00 [65.00, 75.00] | 77.78 | 30.00 |');
    expect(lines).toContain('| 1 | -2.50 [-7.50, 2.50] | -1.53 | 48.00 [43.00, 53.00] | 49.24 | 12.00 |');
    // Table 3 pair 1, two seeds: abs 10, 20 → 15.00 ± 7.07 (sample sd √50); rel 60, 64 → 62.00 ± 2.83;
    // log₂ 1, 3 → 2.00 ± 1.41; published −64.50 and 72.60.
    expect(lines).toContain('| 1 | 15.00 ± 7.07 | -64.50 | 62.00 ± 2.83 | 72.60 | 2.00 ± 1.41 |');
    // Table 1 (JSAE, fflayer pair 2): published absolute 9.55, no published relative.
    expect(lines).toContain('| 2 | 5.00 [0.00, 10.00] | 9.55 | 6.00 [1.00, 11.00] | — | 7.00 |');
  });

  it('aggregates: one unit and the labelled paper-style one beside the published headline', () => {
    expect(markdown).toContain(
      'Aggregate over pairs (scores summed in one unit): absolute 12.50 %, relative 61.00 %.',
    );
    expect(markdown).toContain(
      'Paper-style aggregate (per-pair scores summed as printed, in mixed powers of ten): absolute 33.25 %, relative 58.75 %. Published headline (relative): 59.67 ± 1.83 %.',
    );
  });

  it('Table 7 (raw scores) and Table 8 (SAE quality) rows', () => {
    expect(lines).toContain('## Table 7 — raw SCALAR scores');
    // auc_rel 0.05 → toExponential(4); absolute with one decimal and its CI.
    expect(lines).toContain(
      '| ffblock | 0 | staircase | 0 | 262144 | 13107.2 [12000.0, 14000.0] | 5.0000e-2 | 1.2346 | 0.0831 |',
    );
    expect(lines).toContain('## Table 8 — SAE quality (evaluation split)');
    expect(lines).toContain(
      '| tblock | topk | 0 | blocks.0.hook_resid_pre | 512 | 10.00 | 0.9123 | 0.0456 | 0.5077 |',
    );
    expect(markdown).toContain('![figures/ffblock.svg](figures/ffblock.svg)');
    expect(markdown).toContain('validation CE 1.7343 nats/char');
  });

  it('the JSON carries the inputs and the published values', () => {
    expect(json.scores).toEqual(INPUT.scores);
    expect(json.comparisons).toEqual(INPUT.comparisons);
    const published = json.published as Record<string, { abs: number[]; rel?: number[] }>;
    expect(published.tblock.rel).toEqual([53.48, 72.6, 82.79, 88.83]);
    expect(published.fflayer.abs).toEqual([-602.15, 24.5, 9.55, -14.07]);
  });

  it('an architecture the paper did not publish gets no published column values', () => {
    const other = renderReport({
      ...INPUT,
      comparisons: [comparison('ffblock', 'staircase-detach', 0, 0, 1, 2, 3)],
      aggregates: [],
    }).markdown.split('\n');
    expect(other).toContain('| 0 | 1.00 [-4.00, 6.00] | — | 2.00 [-3.00, 7.00] | — | 3.00 |');
  });
});

/** Regex-based XML well-formedness: tags nest and close, attributes are quoted, '&' only in entities. */
function checkXml(xml: string): { tags: string[] } {
  const stack: string[] = [];
  const tags: string[] = [];
  const tagRe = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  let roots = 0;
  for (let m = tagRe.exec(xml); m; m = tagRe.exec(xml)) {
    const between = xml.slice(last, m.index);
    expect(between, 'text between tags').not.toMatch(/[<>]/);
    expect(between).not.toMatch(/&(?!amp;|lt;|gt;|quot;|#\d+;)/);
    expect(m[3]).not.toMatch(/&(?!amp;|lt;|gt;|quot;|#\d+;)/);
    last = tagRe.lastIndex;
    const [, closing, name, , selfClosing] = m;
    if (closing) {
      expect(stack.pop(), `closing </${name}>`).toBe(name);
    } else {
      if (stack.length === 0) roots++;
      tags.push(name);
      if (!selfClosing) stack.push(name);
    }
  }
  expect(xml.slice(last).trim()).toBe('');
  expect(stack).toEqual([]);
  expect(roots).toBe(1);
  return { tags };
}

describe('pipeline curve figure', () => {
  const series = [
    {
      label: 'topk & <x8>',
      points: [1, 2, 4, 1024].map((n, i) => ({ x: n, y: 1 / (i + 1), lo: 0.8 / (i + 1), hi: 1.2 / (i + 1) })),
    },
    { label: 'staircase', points: [1, 8, 64].map((n) => ({ x: n, y: 0.5, lo: 0.4, hi: 0.6 })) },
    // No interval: no band.
    { label: 'jsae', points: [1, 2].map((n) => ({ x: n, y: 0.2, lo: NaN, hi: NaN })) },
  ];
  const svg = figureSvg(
    (doc, w) =>
      lineFigure(
        series,
        { xLabel: 'edges kept N', yLabel: 'mean KL', logX: true, xBase: 2 },
        w,
        doc,
        'SCALAR "ffblock" pair 0',
      ),
    640,
  );

  it('is well-formed XML with one <svg> root, a line per series, bands only for real intervals', () => {
    const { tags } = checkXml(svg);
    expect(tags[0]).toBe('svg');
    expect(svg.match(/aria-label="line"/g)).toHaveLength(series.length);
    expect(svg.match(/aria-label="area"/g)).toHaveLength(2);
    expect(svg).toContain('topk &amp; &lt;x8&gt;');
    expect(svg).toContain('SCALAR "ffblock" pair 0');
    expect(svg).toMatch(/^<svg [^>]*width="640"/);
  });

  it('puts N on a log₂ axis with powers of two as ticks (every other one over 2⁰…2¹⁰)', () => {
    const ticks = [...svg.matchAll(/<text[^>]*>(2[⁰¹²³⁴⁵⁶⁷⁸⁹]+)<\/text>/g)].map((m) => m[1]);
    expect(ticks).toEqual(['2⁰', '2²', '2⁴', '2⁶', '2⁸', '2¹⁰']);
  });
});
