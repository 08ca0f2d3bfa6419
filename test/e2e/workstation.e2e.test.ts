/**
 * The workstation end to end, as a researcher uses it: web mode (the real server as its own process, so it can
 * be killed) driven by the system Chromium. Queue a quick LM from New run and watch it finish; cancel one; kill
 * the server mid-run, restart, resume from the UI; a 2 × 2 SAE sweep queues 4 runs; search and filter; deep
 * links survive reload; upload a corpus; export a bundle, import it into a fresh data dir and see the same run
 * and metrics; bundles with a `../` entry or a wrong hash are refused and change nothing. Every view is saved
 * under test-results/screens/.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { strToU8, unzipSync, zipSync } from 'fflate';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

if (!HAS_CHROMIUM) console.warn('[e2e] skipping the workstation suite: /usr/bin/chromium not found');

interface Run {
  id: string;
  name: string;
  kind: string;
  status: string;
  summary: { valLoss?: number } | null;
  config: { config?: { corpus?: string } };
}

async function runs(server: ServerProcess, query: Record<string, unknown> = {}): Promise<Run[]> {
  return (await api<{ rows: Run[] }>(server, 'runs.query', { limit: 500, ...query })).rows;
}

describe.skipIf(!HAS_CHROMIUM)('the workstation in web mode', () => {
  let tmp: string;
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  let finishedLm: Run;
  let bundleFile: string;

  beforeAll(async () => {
    await ensureRendererBuilt();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-ws-e2e-'));
    server = await startServer(path.join(tmp, 'data'));
    browser = await openBrowser(path.join(tmp, 'profile'));
    page = browser.page;
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('opens on the run table with its empty state, and every view says what it is', async () => {
    await page.goto(server.url);
    await page.getByTestId('runs-empty').waitFor();
    await screenshot(page, '01-runs-empty');
    for (const [hash, id, name] of [
      ['#/system', 'system-view', '02-system'],
      ['#/models', 'model-list', '03-models'],
      ['#/compare', 'compare-empty', '04-compare-empty'],
      ['#/nowhere', 'not-found', '05-not-found'],
    ]) {
      await gotoHash(page, server, hash);
      await page.getByTestId(id).waitFor();
      if (id === 'model-list') expect(await page.getByTestId(id).textContent()).toContain('ascii-64x4-brown');
      await screenshot(page, name);
    }
  });

  it('queues the quick LM from New run and follows it to completed on its run page', async () => {
    await gotoHash(page, server, '#/new?kind=lm');
    await page.getByTestId('form-lm').waitFor();
    await page.getByTestId('lm-name').fill('quick from the UI');
    await expect
      .poll(() => page.getByTestId('cli-command').textContent())
      .toContain('scalar train-lm --preset quick');
    await screenshot(page, '06-new-lm');
    const started = Date.now();
    await page.getByTestId('queue-button').click();
    // One run: the form opens its run page, which shows live progress while it trains.
    await page.getByTestId('run-page').waitFor();
    await page.getByTestId('run-progress').waitFor({ timeout: 180_000 });
    await screenshot(page, '07-run-page-live');
    await page.locator('[data-testid="run-page"][data-status="completed"]').waitFor({ timeout: 240_000 });
    const seconds = (Date.now() - started) / 1000;
    console.log(`[e2e] quick LM from the UI: queued → completed in ${seconds.toFixed(1)} s`);
    [finishedLm] = await runs(server, { kinds: ['lm'] });
    expect(finishedLm).toMatchObject({ name: 'quick from the UI', status: 'completed' });
    expect(await page.getByTestId('run-curves').isVisible()).toBe(true);
    await page.locator('[data-testid="curve-loss"][data-points="yes"]').first().waitFor();
    await screenshot(page, '08-run-page-completed');
    // The table shows its validation loss as the run record has it.
    await gotoHash(page, server, '#/runs');
    const row = page.locator(`[data-testid="run-row"][data-run-id="${finishedLm.id}"]`);
    await row
      .getByTestId('metric-val_loss')
      .filter({ hasText: finishedLm.summary!.valLoss!.toFixed(4) })
      .waitFor();
    await screenshot(page, '09-runs-one');
  });

  it('cancels a running LM from its run page', async () => {
    await gotoHash(page, server, '#/new?kind=lm');
    await page.getByTestId('lm-steps').fill('5000');
    await page.getByTestId('lm-name').fill('to be cancelled');
    await page.getByTestId('queue-button').click();
    await page.getByTestId('run-progress').waitFor({ timeout: 120_000 });
    await page.getByTestId('run-cancel').click();
    await page.locator('[data-testid="run-page"][data-status="cancelled"]').waitFor({ timeout: 60_000 });
    await page.getByTestId('run-resume').waitFor();
    await screenshot(page, '10-run-cancelled');
  });

  it('survives a killed server: the run is interrupted, and resumes to completion from the UI', async () => {
    await gotoHash(page, server, '#/new?kind=lm');
    await page.getByTestId('lm-steps').fill('400');
    await page.getByTestId('lm-name').fill('killed mid-run');
    await page.getByTestId('queue-button').click();
    await page.getByTestId('run-page').waitFor();
    await page
      .getByTestId('progress-value-loss')
      .or(page.getByTestId('run-progress'))
      .first()
      .waitFor({ timeout: 120_000 });
    const [victim] = await runs(server, { search: 'killed mid-run' });
    expect(victim.status).toBe('running');
    await server.stop('SIGKILL');
    server = await startServer(server.dataDir);
    await page.goto(server.url);
    await gotoHash(page, server, '#/system');
    const item = page.locator(`[data-testid="interrupted-runs"] li[data-run-id="${victim.id}"]`);
    await item.waitFor();
    await screenshot(page, '11-system-interrupted');
    await item.getByTestId('resume-interrupted').click();
    await gotoHash(page, server, `#/runs/${victim.id}`);
    await page.locator('[data-testid="run-page"][data-status="completed"]').waitFor({ timeout: 240_000 });
    const history = await page
      .getByTestId('status-change')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-status')));
    expect(history).toContain('interrupted');
    expect(history.at(-1)).toBe('completed');
  });

  it('queues a 2 × 2 SAE sweep (architectures × seeds) as four runs, and cancels them from the queue', async () => {
    await gotoHash(page, server, `#/new?kind=sae&lm=${finishedLm.id}`);
    await page.getByTestId('form-sae').waitFor();
    await page.locator('[data-testid="sae-archs"] [data-value="staircase"]').click();
    await page.getByTestId('sae-seeds').fill('0,1');
    await page.getByTestId('sweep-count').filter({ hasText: '4 runs' }).waitFor();
    await screenshot(page, '12-new-sae-sweep');
    await page.getByTestId('queue-button').click();
    await expect
      .poll(async () => (await runs(server, { kinds: ['sae'] })).length, { timeout: 20_000 })
      .toBe(4);
    const saes = await runs(server, { kinds: ['sae'] });
    expect(new Set(saes.map((r) => r.name))).toEqual(
      new Set(['topk tblock s0', 'topk tblock s1', 'staircase tblock s0', 'staircase tblock s1']),
    );
    await gotoHash(page, server, '#/system');
    await page.getByTestId('queue-queued').first().waitFor();
    await screenshot(page, '13-system-queue');
    // Cancel them all from the queue, the queued ones first (the running one stops at its next step).
    const terminal = async () =>
      (await runs(server, { kinds: ['sae'] })).every((r) => !['queued', 'running'].includes(r.status));
    for (let round = 0; round < 20 && !(await terminal()); round++) {
      const queued = page.locator('[data-testid="queue-queued"] [data-testid="queue-cancel"]');
      const active = page.locator('[data-testid="queue-active"] [data-testid="queue-cancel"]');
      // A queued run may start (and its button move) between the count and the click: a click that finds no
      // button within 2 s is retried by the next round instead of waiting out the test (a CI flake under load).
      const click = (l: typeof queued) =>
        l
          .first()
          .click({ timeout: 2_000 })
          .catch(() => undefined);
      if ((await queued.count()) > 0) await click(queued);
      else if ((await active.count()) > 0) await click(active);
      await page.waitForTimeout(500);
    }
    await expect.poll(terminal, { timeout: 60_000 }).toBe(true);
    expect(
      (await runs(server, { kinds: ['sae'] })).filter((r) => r.status === 'cancelled').length,
    ).toBeGreaterThanOrEqual(3);
  });

  it('searches, filters and keeps both in the URL across a reload; deep links open the same view', async () => {
    await gotoHash(page, server, '#/runs');
    await page.getByTestId('runs-search').fill('killed');
    await expect.poll(() => page.getByTestId('run-row').count()).toBe(1);
    await page.getByTestId('runs-search').fill('');
    await gotoHash(page, server, '#/runs?kind=sae&sort=name&dir=asc');
    await expect.poll(() => page.getByTestId('run-row').count()).toBe(4);
    await page.reload();
    await expect.poll(() => page.getByTestId('run-row').count()).toBe(4);
    expect(await page.getByTestId('run-name').first().textContent()).toContain('staircase tblock s0');
    await screenshot(page, '14-runs-filtered');
    // `/` focuses the search from another view.
    await gotoHash(page, server, '#/system');
    await page.getByTestId('system-view').waitFor();
    await page.keyboard.press('/');
    await expect
      .poll(() => page.evaluate(() => document.activeElement?.hasAttribute('data-run-search')))
      .toBe(true);
    // A run page link survives reload, and back returns to the previous view.
    await gotoHash(page, server, `#/runs/${finishedLm.id}`);
    await page.locator(`[data-testid="run-page"][data-run-id="${finishedLm.id}"]`).waitFor();
    await page.reload();
    await page.locator(`[data-testid="run-page"][data-run-id="${finishedLm.id}"]`).waitFor();
    await page.goBack();
    await page.getByTestId('runs-view').or(page.getByTestId('system-view')).first().waitFor();
  });

  it('uploads a corpus (and refuses a binary one with the reason), then trains on it', async () => {
    const text = path.join(tmp, 'my-corpus.txt');
    fs.writeFileSync(text, 'It was the best of times, it was the worst of times. '.repeat(4000));
    const binary = path.join(tmp, 'weights.bin');
    fs.writeFileSync(binary, Buffer.alloc(8192, 0));
    await gotoHash(page, server, '#/new?kind=lm');
    await page.getByTestId('corpus-file').check();
    await page.getByTestId('corpus-upload').setInputFiles(binary);
    await page
      .getByTestId('corpus-upload-error')
      .filter({ hasText: /binary/i })
      .waitFor();
    await screenshot(page, '15-upload-refused');
    await page.getByTestId('corpus-upload').setInputFiles(text);
    await page.getByTestId('corpus-uploaded').filter({ hasText: 'my-corpus.txt' }).waitFor();
    await page.getByTestId('lm-steps').fill('30');
    await page.getByTestId('lm-name').fill('on my corpus');
    await page.getByTestId('queue-button').click();
    await page.locator('[data-testid="run-page"][data-status="completed"]').waitFor({ timeout: 180_000 });
    const [run] = await runs(server, { search: 'on my corpus' });
    expect(run.config.config!.corpus).toMatch(/uploads\/[0-9a-f]{16}-my-corpus\.txt$/);
  });

  it('exports a run as a bundle and imports it into a fresh data dir with the same metrics', async () => {
    await gotoHash(page, server, '#/runs?kind=lm');
    await page
      .locator(`[data-testid="run-row"][data-run-id="${finishedLm.id}"] [data-testid="run-select"]`)
      .check();
    await page.getByTestId('selection-bar').waitFor();
    await screenshot(page, '16-runs-selected');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByTestId('action-export').click(),
    ]);
    bundleFile = path.join(tmp, 'bundle.zip');
    await download.saveAs(bundleFile);
    expect(fs.statSync(bundleFile).size).toBeGreaterThan(1000);

    const other = await startServer(path.join(tmp, 'other-data'));
    try {
      await page.goto(other.url);
      await page.getByTestId('runs-empty').waitFor();
      await page.getByTestId('import-bundle-file').setInputFiles(bundleFile);
      await page
        .getByTestId('runs-notice')
        .filter({ hasText: /imported 1/i })
        .waitFor();
      const row = page.locator(`[data-testid="run-row"][data-run-id="${finishedLm.id}"]`);
      await row
        .getByTestId('metric-val_loss')
        .filter({ hasText: finishedLm.summary!.valLoss!.toFixed(4) })
        .waitFor();
      await screenshot(page, '17-imported');
      const [imported] = await runs(other);
      expect(imported.summary).toEqual(finishedLm.summary);
      const series = (s: ServerProcess) =>
        api<{ step: number; value: number }[]>(s, 'runs.metrics', { id: finishedLm.id, key: 'loss' });
      expect(await series(other)).toEqual(await series(server));

      // Bad bundles: a `../` entry, and a file whose bytes do not match the manifest's hash. Nothing changes.
      const entries = unzipSync(fs.readFileSync(bundleFile));
      const escaping = path.join(tmp, 'escaping.zip');
      fs.writeFileSync(escaping, zipSync({ ...entries, '../evil.txt': strToU8('x') }));
      const manifest = JSON.parse(new TextDecoder().decode(entries['manifest.json'])) as {
        files: { path: string }[];
      };
      const tampered = { ...entries };
      const victim = Object.keys(tampered).find(
        (k) => k !== 'manifest.json' && manifest.files.some((f) => k.endsWith(f.path)),
      )!;
      // Same size, one byte different: only the sha256 can tell.
      tampered[victim] = tampered[victim].slice();
      tampered[victim][0] ^= 0xff;
      const wrongHash = path.join(tmp, 'wrong-hash.zip');
      fs.writeFileSync(wrongHash, zipSync(tampered));
      const otherDir = path.join(tmp, 'other-data');
      const before = { runs: await runs(other), files: fs.readdirSync(otherDir, { recursive: true }).sort() };
      await api(other, 'runs.delete', { ids: [finishedLm.id], withDependents: true });
      const empty = { files: fs.readdirSync(otherDir, { recursive: true }).sort() };
      await page.reload();
      await page.getByTestId('runs-empty').waitFor();
      for (const [file, message] of [
        [escaping, /outside|escape|\.\.\//i],
        [wrongHash, /sha-?256|hash/i],
      ] as const) {
        await page.getByTestId('import-bundle-file').setInputFiles(file);
        await page
          .locator('[data-testid="runs-notice"][role="alert"]')
          .filter({ hasText: message })
          .waitFor();
        await screenshot(page, `18-refused-${path.basename(file, '.zip')}`);
        expect(await runs(other)).toEqual([]);
        // The data dir is exactly as it was (the refused upload is removed too).
        expect(fs.readdirSync(otherDir, { recursive: true }).sort()).toEqual(empty.files);
      }
      expect(before.runs.length).toBe(1);
    } finally {
      await other.stop();
    }
  });

  it('loads cleanly under the strict CSP, and works in a 900 px window', async () => {
    await page.setViewportSize({ width: 900, height: 860 });
    await page.goto(server.url);
    await page.getByTestId('run-row').first().waitFor();
    await screenshot(page, '19-runs-900px');
    await gotoHash(page, server, `#/runs/${finishedLm.id}`);
    await page.getByTestId('run-page').waitFor();
    await screenshot(page, '20-run-page-900px');
    await gotoHash(page, server, '#/new?kind=sae');
    await page.getByTestId('form-sae').waitFor();
    await screenshot(page, '21-new-sae-900px');
    // The killed server's page retried its WebSocket while the server was down: expected, and not a page error.
    const problems = browser.problems.filter(
      (p) => !p.includes('Failed to load resource') && !p.includes('ERR_CONNECTION_REFUSED'),
    );
    expect(problems).toEqual([]);
  });
});
