/**
 * The example project end to end (web mode, system Chromium), with the bundle shipped in
 * resources/example-project/: an empty data dir stays empty until the user clicks the Runs page's offer; the
 * import (the ordinary bundle import) fills the table and links the reproduction report, whose claims show;
 * runs imported without weights say so on their run page and on the Latents page, while their records (kept
 * edges) still drive the circuit explorer; a second import (from #/example) skips every run and says so.
 * Screenshots (wide and narrow) land in test-results/screens/example-*.png.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExampleProject, RunPage } from '../../src-shared/api.ts';
import { exampleProjectFile } from '../../src-main/resources.ts';
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

const SHIPPED = fs.existsSync(exampleProjectFile());

describe.skipIf(!HAS_CHROMIUM || !SHIPPED)('Example project (web mode)', () => {
  let tmp: string;
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  let info: ExampleProject;

  beforeAll(async () => {
    await ensureRendererBuilt();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-example-e2e-'));
    server = await startServer(path.join(tmp, 'data'));
    browser = await openBrowser(path.join(tmp, 'profile'));
    page = browser.page;
    info = await api<ExampleProject>(server, 'example.info', {});
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const runs = (params: Record<string, unknown> = {}) =>
    api<RunPage>(server, 'runs.query', { limit: 200, ...params });

  it('offers the example on an empty data dir and imports nothing by itself', async () => {
    expect(info).toMatchObject({ available: true, present: 0 });
    await gotoHash(page, server, '#/runs');
    await page.getByTestId('runs-empty').waitFor();
    const offer = page.getByTestId('example-offer');
    await offer.waitFor();
    const contents = await page.getByTestId('example-contents').textContent();
    expect(contents).toContain(`over ${info.seeds.length} seeds: ${info.runs} completed runs`);
    expect(contents).toContain('SAE runs');
    await screenshot(page, 'example-01-empty-offer');
    await page.setViewportSize({ width: 640, height: 900 });
    await screenshot(page, 'example-02-empty-offer-narrow');
    await page.setViewportSize({ width: 1360, height: 900 });
    // Offered, not imported: the data dir is still empty.
    expect((await runs()).total).toBe(0);
    expect(info.seeds.length).toBeGreaterThanOrEqual(3);
  });

  it('imports on click: the runs table fills and the notice links the reproduction report', async () => {
    await page.getByTestId('example-open').click();
    const notice = page.getByTestId('runs-notice');
    await notice.filter({ hasText: 'Imported the example project' }).waitFor({ timeout: 60_000 });
    expect(await notice.textContent()).toContain(`${info.runs} runs`);
    await page
      .getByTestId('runs-total')
      .filter({ hasText: `${info.runs} runs` })
      .waitFor();
    expect((await runs()).total).toBe(info.runs);
    expect(await page.getByTestId('run-no-weights').count()).toBeGreaterThan(0);
    await screenshot(page, 'example-03-runs-after-import');

    await page.getByTestId('runs-notice-link').click();
    await page.getByTestId('reproduce-report').waitFor();
    expect(page.url()).toContain(`#/reproduce?run=${info.reproduceRunId}`);
    expect(await page.getByTestId('claim').count()).toBeGreaterThan(3);
    await screenshot(page, 'example-04-reproduce-report');

    // The seed-2 reproduction the 3-seed one reused, set beside it: A is seed 2 alone, B all three seeds.
    const beside = page.getByTestId('reproduce-beside');
    await beside.scrollIntoViewIfNeeded();
    await page.getByTestId('beside-select').selectOption({ index: 1 });
    await page.getByTestId('beside-table').waitFor();
    const pair0 = page
      .getByTestId('beside-row')
      .filter({ hasText: 'ffblock' })
      .filter({ has: page.locator('td:nth-child(3)', { hasText: /^0$/ }) });
    await expect.poll(() => pair0.first().textContent()).toContain('46.4 (n 1)');
    expect(await pair0.first().textContent()).toContain('43.9 ± 2.5 (n 3)');
    expect(await page.getByTestId('beside-chart').count()).toBe(3);
    await beside.screenshot({ path: path.join(SCREENS_DIR, 'example-04b-reproduce-beside.png') });
  });

  it('a run without weights says so on its run page and on the Latents page', async () => {
    const sae = (await runs({ kinds: ['sae'] })).rows.find((r) => r.withoutWeights)!;
    expect(sae).toBeTruthy();
    await gotoHash(page, server, `#/runs/${sae.id}`);
    const card = page.getByTestId('run-without-weights');
    await card.waitFor();
    expect(await card.textContent()).toContain('Imported without its weights');
    expect(await page.getByTestId('run-no-weights').isDisabled()).toBe(true);
    await screenshot(page, 'example-05-run-without-weights');

    await gotoHash(page, server, `#/latent?run=${sae.id}`);
    const panel = page.getByTestId('latent-stats-without-weights');
    await panel.waitFor();
    expect(await page.getByTestId('latent-stats-panel').textContent()).toContain(
      `run ${sae.id} was imported without its weights`,
    );
    expect(await page.getByTestId('compute-latent-stats').count()).toBe(0);
    await screenshot(page, 'example-06-latents-without-weights');
  });

  it('shipped latent statistics and kept edges drive the Latents page and the circuit explorer', async () => {
    const latents = (await runs({ kinds: ['latents'] })).rows;
    expect(latents.length).toBeGreaterThan(0);
    const saeId = (latents[0].config as { config: { sae: string } }).config.sae;
    await gotoHash(page, server, `#/latent?run=${saeId}`);
    await page.getByTestId('latent-hook-tab').first().waitFor();
    await screenshot(page, 'example-07-latents-shipped');

    const scalar = (await runs({ kinds: ['scalar'], statuses: ['completed'] })).rows.find(
      (r) => r.withoutWeights,
    )!;
    const pair = (scalar.summary as { eval_result_metrics: { pairs: { label: string }[] } })
      .eval_result_metrics.pairs[1].label;
    await gotoHash(page, server, `#/circuit?run=${scalar.id}&pair=${encodeURIComponent(pair)}`);
    await page.getByTestId('circuit-graph').waitFor();
    await page.getByTestId('graph-counts').waitFor();
    await screenshot(page, 'example-08-circuit-without-weights');
  });

  it('a second import (from #/example) skips every run and says so; narrow window', async () => {
    await gotoHash(page, server, '#/example');
    await page.getByTestId('example-present').waitFor();
    await page.getByTestId('example-open').click();
    const outcome = page.getByTestId('example-outcome');
    await outcome.filter({ hasText: 'already here' }).waitFor({ timeout: 60_000 });
    expect(await outcome.textContent()).toContain(`all ${info.runs} of its runs are in this data dir`);
    expect((await runs()).total).toBe(info.runs);
    await screenshot(page, 'example-09-second-import');
    await page.setViewportSize({ width: 640, height: 900 });
    await gotoHash(page, server, '#/runs');
    await page.getByTestId('runs-total').waitFor();
    await screenshot(page, 'example-10-runs-narrow');
    await page.setViewportSize({ width: 1360, height: 900 });
    expect(browser.problems).toEqual([]);
  });
});
