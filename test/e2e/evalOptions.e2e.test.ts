/**
 * The evaluation and schedule options of issue 14 in the New run forms (web mode, system Chromium): the LM form's
 * warmup and validation tokens, the SAE form's warmup and evaluation tokens, and the SCALAR form's α at S = 1 show
 * up in the equivalent command line, and the training forms show the schedule the run will use. Nothing is queued.
 * Screens: test-results/screens/eval-options-*.png.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ensureRendererBuilt,
  gotoHash,
  HAS_CHROMIUM,
  openBrowser,
  screenshot,
  startServer,
  type Browser,
  type ServerProcess,
} from './harness.ts';

describe.skipIf(!HAS_CHROMIUM)('evaluation options in the New run forms', () => {
  let tmp: string;
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    await ensureRendererBuilt();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-evalopt-e2e-'));
    server = await startServer(path.join(tmp, 'data'));
    browser = await openBrowser(path.join(tmp, 'profile'));
    page = browser.page;
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const command = () => page.getByTestId('cli-command').textContent();

  it('LM: --warmup and --val-tokens in the command, the schedule in words', async () => {
    await gotoHash(page, server, '#/new?kind=lm');
    await page.getByTestId('form-lm').waitFor();
    await page.getByTestId('lm-steps').fill('200');
    // --steps alone: warmup min(60, 20) = 20, evaluation every min(100, 20) = 20 (quick preset).
    await expect
      .poll(() => page.getByTestId('lm-schedule').textContent())
      .toContain('warmup 20 (min(preset 60, 10 % of --steps))');
    await page.locator('[data-testid="form-lm"] details.more summary').click();
    await page.getByTestId('lm-warmup').fill('7');
    await page.getByTestId('lm-val-tokens').fill('all');
    await expect
      .poll(command)
      .toContain('npx scalar train-lm --preset quick --steps 200 --warmup 7 --seed 0 --val-tokens all');
    await expect.poll(() => page.getByTestId('lm-schedule').textContent()).toContain('warmup 7 (given)');
    expect(await page.getByTestId('lm-schedule').textContent()).toContain(
      'fixed-v1 (whole validation split)',
    );
    await page.getByTestId('lm-warmup').fill('201');
    await expect
      .poll(() => page.getByTestId('field-error-warmup').textContent())
      .toBe('must be ≤ the number of steps, 200 (got 201)');
    await page.getByTestId('lm-warmup').fill('7');
    await screenshot(page, 'eval-options-lm');
  });

  it('SAE: --warmup and --eval-tokens in the command', async () => {
    await gotoHash(page, server, '#/new?kind=sae');
    await page.getByTestId('form-sae').waitFor();
    await page.locator('[data-testid="form-sae"] details.more summary').click();
    await page.getByTestId('sae-warmup').fill('30');
    await page.getByTestId('sae-eval-tokens').fill('8192');
    await expect.poll(command).toContain('--warmup 30 --eval-tokens 8192');
    await expect
      .poll(() => page.getByTestId('sae-schedule').textContent())
      .toContain('evaluation fixed-v1 (8192 validation tokens)');
    await screenshot(page, 'eval-options-sae');
  });

  it('SCALAR: α at S = 1 is offered with IG steps 1 and lands in the command', async () => {
    // A picked SAE run id is enough to build the command (the run itself is checked when queued).
    await gotoHash(page, server, '#/new?kind=scalar&sae=sae-example');
    await page.getByTestId('form-scalar').waitFor();
    expect(await page.getByTestId('scalar-single-step-alpha').isDisabled()).toBe(true);
    await page.getByTestId('scalar-ig-steps').fill('1');
    await expect.poll(() => page.getByTestId('scalar-single-step-alpha').isDisabled()).toBe(false);
    await page.getByTestId('scalar-single-step-alpha').selectOption('0');
    await expect.poll(command).toContain('--sae sae-example --preset paper --steps 1 --single-step-alpha 0');
    await screenshot(page, 'eval-options-scalar');
    await page.getByTestId('scalar-ig-steps').fill('4');
    await expect.poll(command).not.toContain('--single-step-alpha');
  });
});
