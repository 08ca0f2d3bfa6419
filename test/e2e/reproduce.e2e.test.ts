/**
 * The Reproduce page end to end (web mode, system Chromium): a reproduction of hand-made finished runs (3 seeds,
 * every setup and variant; compare.helpers, no training) is written by the real reproduce code, then shown at
 * `#/reproduce?run=<id>` and on its run page: one card per claim with the verdict of report.json as a badge that
 * carries a shape and the word (not colour alone), both headline aggregates labelled, the per-pair charts. The
 * New run form offers it with its CLI line. Screenshots (wide and narrow) land in test-results/screens/.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScalarService } from '../../src-main/api/service.ts';
import { defaultLmRef } from '../../src-main/jobs/lmRef.ts';
import { runReproduce } from '../../src-main/jobs/reproduce.ts';
import { ReproduceConfigSchema } from '../../src-shared/reproduce.ts';
import type { ReproduceReport } from '../../src-shared/reproduce/report.ts';
import { seedReproductionRuns } from '../unit/reproduce.helpers.ts';
import {
  api,
  ensureRendererBuilt,
  gotoHash,
  HAS_CHROMIUM,
  openBrowser,
  screenshot,
  SCREENS_DIR,
  startServer,
  type Browser,
  type ServerProcess,
} from './harness.ts';

const MARK = { holds: '✔', 'does not hold': '✘', 'within noise': '≈', 'not run': '–' } as const;

describe.skipIf(!HAS_CHROMIUM)('Reproduce page (web mode)', () => {
  let tmp: string;
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  let runId: string;
  let report: ReproduceReport;

  beforeAll(async () => {
    await ensureRendererBuilt();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-reproduce-e2e-'));
    const dataDir = path.join(tmp, 'data');
    const service = new ScalarService({ dataDir, mode: 'cli', autoLatentStats: false });
    try {
      const config = ReproduceConfigSchema.parse({ preset: 'quick', lm: defaultLmRef(), seeds: 3 });
      seedReproductionRuns(service.store, config, [0, 1, 2]);
      const run = await runReproduce(service, config);
      expect(run.status).toBe('completed');
      runId = run.id;
      report = JSON.parse(
        fs.readFileSync(
          path.join(path.dirname((run.summary as { report: string }).report), 'report.json'),
          'utf8',
        ),
      ) as ReproduceReport;
    } finally {
      await service.close();
    }
    server = await startServer(dataDir);
    browser = await openBrowser(path.join(tmp, 'profile'));
    page = browser.page;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('shows every claim with the verdict of report.json as shape + word', async () => {
    await gotoHash(page, server, `#/reproduce?run=${runId}`);
    await page.getByTestId('reproduce-report').waitFor();
    const cards = page.getByTestId('claim');
    // The paper's claims, then our findings (same cards).
    expect(await cards.count()).toBe(report.claims.length + report.findings.length);
    expect(await page.getByTestId('findings').getByTestId('claim').count()).toBe(report.findings.length);
    for (const c of report.claims) {
      const card = page.locator(`[data-testid="claim"][data-claim="${c.id}"]`);
      const badge = card.locator('header [data-testid="verdict"]');
      expect((await badge.textContent())?.trim()).toBe(`${MARK[c.verdict]}${c.verdict}`);
      expect(await card.locator('[data-testid="claim-test"]').count()).toBe(c.tests.length);
    }
    // The variant claims were trained here, so none is "not run"; the ×40 rows are listed as not run.
    expect(report.claims.map((c) => c.verdict)).not.toContain('not run');
    await expect.poll(() => page.getByTestId('not-run').textContent()).toContain('TopK ×40');
    const aggregations = await page
      .getByTestId('headline-row')
      .evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.aggregation));
    expect(aggregations.filter((a) => a === 'one unit').length).toBe(6);
    expect(aggregations.filter((a) => a === 'paper-style').length).toBe(6);
    // Three setups × (relative, absolute).
    await expect
      .poll(() => page.locator('[data-testid="reproduce-chart"][data-points="yes"]').count())
      .toBe(6);
    await screenshot(page, 'reproduce-report');
    expect(browser.problems).toEqual([]);
  });

  it('fits a narrow window, and the run page of the reproduction shows the same report', async () => {
    await page.setViewportSize({ width: 760, height: 900 });
    await page.getByTestId('reproduce-report').waitFor();
    await screenshot(page, 'reproduce-report-narrow');
    // The full page is too tall to judge by eye: the top and the claims on their own too.
    await page.screenshot({ path: path.join(SCREENS_DIR, 'reproduce-report-narrow-top.png') });
    await page
      .getByTestId('claims')
      .screenshot({ path: path.join(SCREENS_DIR, 'reproduce-claims-narrow.png') });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.setViewportSize({ width: 1360, height: 900 });
    await gotoHash(page, server, `#/runs/${runId}`);
    await page.locator('[data-testid="run-page"] [data-testid="reproduce-report"]').waitFor();
    expect(await page.locator('[data-testid="run-page"] [data-testid="claim"]').count()).toBe(
      report.claims.length + report.findings.length,
    );
    const holds = report.claims.filter((c) => c.verdict === 'holds').length;
    expect(await page.getByTestId('figure-hold-').locator('dd').textContent()).toBe(String(holds));
    await page.screenshot({ path: path.join(SCREENS_DIR, 'reproduce-run-page.png') });
    await gotoHash(page, server, '#/reproduce');
    await page.getByTestId('reproduce-list').waitFor();
    expect(await page.getByTestId('reproduce-list').locator('li').count()).toBe(1);
    expect(browser.problems).toEqual([]);
  });

  it('New run offers a reproduction with its command line', async () => {
    await gotoHash(page, server, '#/new?kind=reproduce');
    await page.getByTestId('form-reproduce').waitFor();
    await page.getByTestId('reproduce-seeds').fill('2');
    await page.getByTestId('reproduce-setup-ffblock').uncheck();
    await expect
      .poll(() => page.getByTestId('queue-panel').textContent())
      .toContain('scalar reproduce --preset quick --seeds 2 --setups fflayer,tblock');
    await screenshot(page, 'reproduce-new-run');
    expect(browser.problems).toEqual([]);
  });

  it('queued from New run with the seeded options, it reuses every finished run and shows its report', async () => {
    await gotoHash(page, server, '#/new?kind=reproduce');
    await page.getByTestId('form-reproduce').waitFor();
    await page.getByTestId('queue-button').click();
    // The form opens the new run's page; every step is reused, so it completes and draws its report.
    await page.waitForFunction(
      (old) => location.hash.startsWith('#/runs/') && !location.hash.includes(old),
      runId,
    );
    await page
      .locator('[data-testid="run-page"][data-status="completed"] [data-testid="reproduce-report"]')
      .waitFor();
    expect(await page.locator('[data-testid="run-page"] [data-testid="claim"]').count()).toBe(
      report.claims.length + report.findings.length,
    );
    const runs = await api<{ kind: string }[]>(server, 'runs.list', {});
    // 3 seeds × (9 SAEs + 6 SCALAR + 2 SCALAR against the full circuit).
    expect(runs.filter((r) => r.kind === 'sae' || r.kind === 'scalar').length).toBe(51);
    expect(runs.filter((r) => r.kind === 'reproduce').length).toBe(2);
    expect(browser.problems).toEqual([]);
  });
});
