/**
 * The compare page end to end (web mode, system Chromium) on hand-made SCALAR runs seeded into the store (3 TopK
 * and 3 Staircase seeds with stored curves and per-token KL tables; no training, so CI stays fast): the reduction
 * table equals the Api's `compare.scalar` to the printed precision, toggling the log axes changes the ticks, the
 * exported SVG parses, the PNG is twice its size, the CSV has one row per point, the 3-seed groups show mean ± sd,
 * "export all" gives one zip of figures, data and tables. Screenshots (normal, 900 px wide, 10 runs) land in
 * test-results/screens/ for a person to look at.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { unzipSync } from 'fflate';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScalarService } from '../../src-main/api/service.ts';
import { meanSd } from '../../src-shared/compare/seeds.ts';
import { pct } from '../../src-shared/compare/tables.ts';
import { formatNumber } from '../../src-shared/figures/theme.ts';
import {
  GRID,
  pngSize,
  seedComparison,
  seedSaeRun,
  seedScalarRun,
  xmlProblems,
} from '../unit/compare.helpers.ts';
import {
  ensureRendererBuilt,
  HAS_CHROMIUM,
  openBrowser,
  screenshot,
  startServer,
  type Browser,
  type ServerProcess,
} from './harness.ts';

if (!HAS_CHROMIUM) console.warn('[e2e] skipping the compare suite: /usr/bin/chromium not found');

describe.skipIf(!HAS_CHROMIUM)('compare page (web mode)', () => {
  let tmp: string;
  let dataDir: string;
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  let topk: string[];
  let staircase: string[];
  let ten: string[];
  const headline: Record<string, number> = {};

  beforeAll(async () => {
    await ensureRendererBuilt();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-compare-e2e-'));
    dataDir = path.join(tmp, 'data');
    const service = new ScalarService({ dataDir, mode: 'cli', autoLatentStats: false });
    try {
      const seeded = seedComparison(service.store, 3);
      topk = seeded.topk.map((r) => r.id);
      staircase = seeded.staircase.map((r) => r.id);
      const extra: string[] = [];
      for (const [arch, decay] of [
        ['staircase-detach', 1.3],
        ['staircase-untied', 2.2],
      ] as const)
        for (let s = 0; s < 2; s++) {
          const sae = seedSaeRun(service.store, arch, s, {
            name: `${arch} tblock s${s} with a long descriptive name to truncate`,
          });
          extra.push(seedScalarRun(service.store, sae, s, decay + 0.05 * s).id);
        }
      ten = [...topk, ...staircase, ...extra];
      for (const id of ten) headline[id] = service.store.requireRun(id).headline.auc_abs as number;
    } finally {
      await service.close();
    }
    server = await startServer(dataDir);
    browser = await openBrowser(path.join(tmp, 'profile'));
    page = browser.page;
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** Opens the page and waits for its reduction table: `rows` rows (4 per run compared), none pending. */
  const open = async (ids: string[], rows: number) => {
    await page.goto(`${server.url.replace(/#.*$/, '')}#/compare?runs=${ids.join(',')}`);
    await page.waitForFunction(
      (n) =>
        document.querySelectorAll('[data-testid="reduction-row"]').length === n &&
        !document.querySelector('[data-testid="reduction-pending"]'),
      rows,
    );
  };

  const download = async (click: () => Promise<void>) => {
    const [d] = await Promise.all([page.waitForEvent('download'), click()]);
    const file = path.join(tmp, d.suggestedFilename());
    await d.saveAs(file);
    return file;
  };

  it('shows the reduction table exactly as the Api computes it (to the printed precision)', async () => {
    const t0 = Date.now();
    await open([...topk, ...staircase], 3 * 4);
    const loadMs = Date.now() - t0;
    const service = new ScalarService({ dataDir, mode: 'cli', autoLatentStats: false });
    try {
      for (const [i, run] of staircase.entries()) {
        // The page compares with the runs' own bootstrap setting (200 in these runs' configs), seed 0.
        const c = await service.call('compare.scalar', { run, baseline: topk[i], resamples: 200, seed: 0 });
        const rows = page.locator(`[data-testid="reduction-row"][data-run="${run}"]`);
        expect(await rows.count()).toBe(4);
        const abs = await rows.locator('[data-testid="red-abs"]').allTextContents();
        const rel = await rows.locator('[data-testid="red-rel"]').allTextContents();
        const log2 = await rows.locator('[data-testid="red-log2"]').allTextContents();
        expect(abs).toEqual([
          pct(c.pairs[0].reduction_abs_pct),
          pct(c.pairs[1].reduction_abs_pct),
          pct(c.aggregate.abs.reduction_pct),
          pct(c.aggregate.abs.paper_style_reduction_pct),
        ]);
        expect(rel.slice(0, 3)).toEqual([
          pct(c.pairs[0].reduction_rel_pct),
          pct(c.pairs[1].reduction_rel_pct),
          pct(c.aggregate.rel.reduction_pct),
        ]);
        expect(log2.slice(0, 2)).toEqual([
          pct(c.pairs[0].reduction_log2_pct),
          pct(c.pairs[1].reduction_log2_pct),
        ]);
      }
    } finally {
      await service.close();
    }
    expect(loadMs).toBeLessThan(15_000);
    await screenshot(page, 'compare-6-runs');
    expect(browser.problems).toEqual([]);
  });

  it('shows each 3-seed group as mean ± sd with its per-seed points', async () => {
    const groups = page.locator('[data-testid="seed-group"][data-n="3"]');
    expect(await groups.count()).toBe(2);
    const first = await groups.first().locator('[data-testid="seed-mean-sd"]').first().textContent();
    const m = meanSd(topk.map((id) => headline[id]))!;
    expect(first).toBe(`${formatNumber(m.mean, 4)} ± ${formatNumber(m.sd, 4)}`);
    // One dot per seed and group in the seed plot: 3 + 3.
    const dots = page.locator('[data-testid="seed-plot"]').first().locator('g[aria-label="dot"] circle');
    expect(await dots.count()).toBe(6);
  });

  it('changes the ticks when the log axes are toggled', async () => {
    const chart = page.locator('[data-testid="scalar-pair"]').first();
    const ticks = () => chart.locator('g[aria-label="x-axis tick label"] text').allTextContents();
    const log2 = await ticks();
    expect(log2[0]).toBe('2⁰');
    expect(log2.every((t) => /^2[⁰¹²³⁴⁵⁶⁷⁸⁹]+$/.test(t))).toBe(true);
    await page.click('[data-testid="scalar-x-linear"]');
    const linear = await ticks();
    expect(linear).not.toEqual(log2);
    expect(linear.some((t) => /^\d+$/.test(t) && Number(t) > 100)).toBe(true);
    const yTicks = () => chart.locator('g[aria-label="y-axis tick label"] text').allTextContents();
    const yLinear = await yTicks();
    await page.click('[data-testid="scalar-kl-log"]');
    expect(await yTicks()).not.toEqual(yLinear);
    await page.click('[data-testid="scalar-kl-log"]');
    await page.click('[data-testid="scalar-x-log2"]');
    expect(await ticks()).toEqual(log2);
  });

  it('exports a chart as SVG that parses, PNG at twice its size and CSV with one row per point', async () => {
    const chart = page.locator('[data-testid="scalar-pair"]').first();
    await chart.hover();
    const svgFile = await download(() => chart.getByRole('button', { name: 'SVG' }).click());
    const svg = fs.readFileSync(svgFile, 'utf8');
    expect(xmlProblems(svg)).toEqual([]);
    expect(svg).toMatch(/^<svg /);
    const width = Number(/ width="(\d+)"/.exec(svg)![1]);
    const height = Number(/ height="(\d+)"/.exec(svg)![1]);
    const pngFile = await download(() => chart.getByRole('button', { name: 'PNG' }).click());
    expect(pngSize(fs.readFileSync(pngFile))).toEqual({ width: 2 * width, height: 2 * height });
    const csvFile = await download(() => chart.getByRole('button', { name: 'CSV' }).click());
    const lines = fs.readFileSync(csvFile, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe('series,edges kept N,mean KL,lo,hi');
    expect(lines).toHaveLength(1 + 6 * GRID.length);
  });

  it('exports everything as one zip: figures (SVG + PNG), data, tables with the LaTeX reduction table', async () => {
    const zipFile = await download(() => page.click('[data-testid="compare-export-all"]'));
    const files = unzipSync(new Uint8Array(fs.readFileSync(zipFile)));
    const names = Object.keys(files);
    expect(names).toEqual(
      expect.arrayContaining([
        'figures/scalar-tblock-0-log2.svg',
        'figures/scalar-tblock-0-log2.png',
        'data/scalar-tblock-0-log2.csv',
        'data/scalar-tblock-0-log2.json',
        'tables/reductions.csv',
        'tables/reductions.tex',
        'tables/config-diff.csv',
        'comparison.json',
      ]),
    );
    const svg = new TextDecoder().decode(files['figures/scalar-tblock-0-log2.svg']);
    expect(xmlProblems(svg)).toEqual([]);
    const w = Number(/ width="(\d+)"/.exec(svg)![1]);
    expect(pngSize(files['figures/scalar-tblock-0-log2.png']).width).toBe(2 * w);
    expect(new TextDecoder().decode(files['tables/reductions.tex'])).toContain('\\begin{tabular}');
  });

  it('works at 900 px wide and with 10 runs (screenshots)', async () => {
    await page.setViewportSize({ width: 900, height: 900 });
    await open([...topk, ...staircase], 3 * 4);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(900);
    await screenshot(page, 'compare-900px');
    await page.setViewportSize({ width: 1360, height: 900 });
    const t0 = Date.now();
    await open(ten, 7 * 4); // 3 TopK runs are the baseline group; 7 others × (2 pairs + 2 aggregates)
    const loadMs = Date.now() - t0;
    expect(await page.locator('[data-testid="compare-run"]').count()).toBe(10);
    expect(await page.locator('[data-testid="reduction-row"]').count()).toBe(7 * 4);
    expect(loadMs).toBeLessThan(15_000);
    await screenshot(page, 'compare-10-runs');
    expect(browser.problems).toEqual([]);
  });
});
