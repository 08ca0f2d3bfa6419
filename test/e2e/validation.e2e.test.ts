/**
 * The ranking-validation page end to end (issue 15; web mode, system Chromium): a validation run computed here by
 * the real engine on a small sweep (the quick conditions and methods on 12 × 12 planted pairs, one seed) is
 * seeded into the store; its run page shows the computed verdicts (one row per condition, the same numbers as
 * the stored report), the recovery heatmap (switching the metric redraws it) and the curves against the true
 * order. Then the New run tab queues a real `validate-ranking` run through the job manager, its page shows live
 * progress (phase, rate, ETA), and Cancel stops it. Screenshots, wide and narrow, land in test-results/screens/.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScalarService } from '../../src-main/api/service.ts';
import { initBackend } from '../../src-main/engine/backend.ts';
import { validateRanking } from '../../src-main/engine/validation/validate.ts';
import { VALIDATION_PRESETS, type ValidationReport } from '../../src-shared/validation.ts';
import {
  api,
  ensureRendererBuilt,
  gotoHash,
  HAS_CHROMIUM,
  openBrowser,
  screenshot,
  startServer,
  type Browser,
  type ServerProcess,
} from './harness.ts';

if (!HAS_CHROMIUM) console.warn('[e2e] skipping the validation suite: /usr/bin/chromium not found');

describe.skipIf(!HAS_CHROMIUM)('ranking validation page (web mode)', () => {
  let tmp: string;
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  let runId: string;
  let report: ValidationReport;

  beforeAll(async () => {
    await ensureRendererBuilt();
    await initBackend();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-validation-e2e-'));
    const dataDir = path.join(tmp, 'data');
    const config = { preset: 'quick' as const, seeds: 1, seed: 0 };
    report = await validateRanking({
      config,
      preset: {
        ...VALIDATION_PRESETS.quick,
        f0: 12,
        f1: 12,
        seqLen: 8,
        attributionSeqs: 8,
        evalSeqs: 4,
        vocab: 32,
      },
      parallel: false,
    });
    const service = new ScalarService({ dataDir, mode: 'cli', autoLatentStats: false });
    try {
      const run = service.store.createRun({
        kind: 'validation',
        name: 'validate-ranking small sweep',
        config: { kind: 'validate-ranking', config },
        seed: 0,
      });
      service.store.startRun(run.id);
      runId = service.store.finishRun(run.id, report).id;
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

  it('shows the computed verdicts, the recovery heatmap and the curves', async () => {
    await gotoHash(page, server, `#/runs/${runId}`);
    const table = page.getByTestId('validation-default-table');
    await table.waitFor();
    const rows = table.locator('tbody tr');
    expect(await rows.count()).toBe(report.preset.conditions.length);
    // The baseline row's precision is the stored summary's, to the printed 3 significant digits.
    const base = report.summary.find(
      (s) => s.segment === 'all' && s.method === 'ig-ref-S4' && s.condition === 'baseline',
    )!;
    const firstRow = (await rows.first().innerText()).split('\t').map((c) => c.trim());
    expect(firstRow[0]).toBe('baseline');
    expect(Number(firstRow[1])).toBeCloseTo(base.mean.precision, 2);
    expect(firstRow.at(-1)).toBe(base.verdict);
    // Failures list or the explicit "no failure" line, whichever the numbers say.
    const failing = report.failures.filter((f) => f.segment === 'all');
    if (failing.length)
      expect(await page.getByTestId('validation-failures').locator('li').count()).toBe(failing.length);
    else await page.getByTestId('validation-no-failure').waitFor();

    const heatmap = page.getByTestId('validation-heatmap');
    await heatmap.locator('svg').first().waitFor();
    // One text label per (condition, method) cell with a value.
    const cellsShown = report.summary.filter(
      (s) => s.segment === 'all' && Number.isFinite(s.mean.precision),
    ).length;
    expect(await heatmap.locator('svg g[aria-label="text"] text').count()).toBe(cellsShown);
    await page.getByTestId('validation-metric').selectOption('auroc');
    await expect.poll(() => heatmap.locator('figcaption').innerText()).toContain('AUROC');

    const curves = page.getByTestId('validation-curve-chart');
    await curves.locator('svg').first().waitFor();
    await page.getByTestId('validation-curve-segment').selectOption('block');
    await page.getByTestId('validation-curve-condition').selectOption(report.preset.conditions[1].id);
    await curves.locator('svg').first().waitFor();
    expect(browser.problems).toEqual([]);
    await screenshot(page, 'validation-run');
    await page.setViewportSize({ width: 760, height: 900 });
    await page.getByTestId('validation-curve-chart').locator('svg').first().waitFor();
    await screenshot(page, 'validation-run-narrow');
    await page.setViewportSize({ width: 1360, height: 900 });
  });

  it('queues a validation from New run, shows its progress and cancels it', async () => {
    await gotoHash(page, server, '#/new?kind=validate');
    await page.getByTestId('form-validate').waitFor();
    await page.getByTestId('validate-seeds').fill('0');
    await page.getByTestId('field-error-seeds').waitFor();
    expect(await page.getByTestId('validate-queue').isDisabled()).toBe(true);
    await page.getByTestId('validate-seeds').fill('1');
    await expect.poll(() => page.getByTestId('validate-cli').innerText()).toContain('--seeds 1');
    await screenshot(page, 'validation-new-run');
    await page.getByTestId('validate-queue').click();
    await page.waitForURL(/#\/runs\/validation-/);
    const id = decodeURIComponent(page.url().split('#/runs/')[1]);
    await page.getByTestId('run-phase').waitFor({ timeout: 120_000 });
    expect(await page.getByTestId('run-phase').innerText()).toMatch(/baseline · mlp · seed 0/);
    await page.getByTestId('validation-pending').waitFor();
    await screenshot(page, 'validation-progress');
    await page.getByTestId('run-cancel').click();
    await expect
      .poll(async () => (await api<{ status: string }>(server, 'runs.get', { id })).status, {
        timeout: 60_000,
      })
      .toBe('cancelled');
  });
});
