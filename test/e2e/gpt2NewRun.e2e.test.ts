/**
 * New run with a GPT-2 folder and a text set (issue 12 item 7), in web mode with the system Chromium: a tiny
 * GPT-2 checkpoint (the real 50,257-token vocabulary, 12 blocks, D 32) typed into the SAE form is described under
 * the field; a JSONL file without "text" and a folder text set are inspected, the folder refused on the field until
 * it is streamed; the suggested gpt2-small-cpu preset fixes it; the command line shows what the queued run holds;
 * the run completes on its run page, and the folder is then offered as a model. Screens:
 * test-results/screens/gpt2-new-run-*.png.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gpt2Weights, writeGpt2Folder, type Shape } from '../unit/gpt2.helpers.ts';
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

const SHAPE: Shape = { V: 50257, T: 128, D: 32, L: 12, H: 2, eps: 1e-5 };
const WORDS =
  'the of and a to in is was he for it with as his on be at by had are but from or have an they which one you were her all she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people mr how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three'.split(
    ' ',
  );

/** Sentences of common English words (deterministic), about `chars` characters. */
function prose(chars: number, seed: number): string {
  let s = seed;
  const out: string[] = [];
  let n = 0;
  while (n < chars) {
    const len = 6 + (s % 9);
    const words: string[] = [];
    for (let i = 0; i < len; i++) {
      s = (s * 1103515245 + 12345) % 2147483648;
      words.push(WORDS[s % WORDS.length]);
    }
    const sentence = `${words[0][0].toUpperCase()}${words.join(' ').slice(1)}.`;
    out.push(sentence);
    n += sentence.length + 1;
  }
  return out.join(' ').replace(/(\. )/g, (m, _g, i: number) => (i % 7 === 0 ? '.\n' : m));
}

describe.skipIf(!HAS_CHROMIUM)('New run with a GPT-2 folder and a text set', () => {
  let tmp: string;
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  let lmDir: string;
  let setDir: string;
  let badJsonl: string;

  beforeAll(async () => {
    await ensureRendererBuilt();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-gpt2ui-e2e-'));
    // A long path, as checkpoints downloaded from the Hub usually have: the description and errors must wrap.
    lmDir = writeGpt2Folder(
      path.join(
        tmp,
        'huggingface',
        'hub',
        'models--openai-community--gpt2-tiny-test',
        'snapshots',
        'e7da7f2',
      ),
      SHAPE,
      gpt2Weights(SHAPE, 3),
    );
    setDir = path.join(tmp, 'text-sets', 'my-notes');
    fs.mkdirSync(path.join(setDir, 'more'), { recursive: true });
    fs.writeFileSync(path.join(setDir, 'a.txt'), prose(60_000, 1));
    fs.writeFileSync(path.join(setDir, 'more', 'b.txt'), prose(60_000, 2));
    const docs = [3, 4, 5, 6].map((seed) => JSON.stringify({ text: prose(8_000, seed), id: seed }));
    fs.writeFileSync(path.join(setDir, 'c.jsonl'), `${docs.join('\n')}\n`);
    badJsonl = path.join(tmp, 'text-sets', 'posts.jsonl');
    fs.writeFileSync(badJsonl, '{"text":"a first post"}\n{"body":"a second post without a text field"}\n');
    server = await startServer(path.join(tmp, 'data'));
    browser = await openBrowser(path.join(tmp, 'profile'));
    page = browser.page;
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  let saeRunId = '';
  const text = (testid: string) => page.getByTestId(testid).textContent();
  const command = () => text('cli-command');

  it('describes a typed GPT-2 folder, and says why another path cannot be used', async () => {
    await gotoHash(page, server, '#/new?kind=sae');
    await page.getByTestId('form-sae').waitFor();
    await page.getByTestId('lm-picker-select').selectOption('__other__');
    await page.getByTestId('lm-picker-path').fill(path.join(tmp, 'nowhere'));
    await expect
      .poll(() => text('field-error-lm'))
      .toBe(
        `cannot find language model '${path.join(tmp, 'nowhere')}': give a completed LM run id, resources:<name>, or a folder with config.json + model.safetensors`,
      );
    await page.getByTestId('lm-picker-path').fill(lmDir);
    await expect
      .poll(() => text('lm-picker-info'))
      .toBe('GPT-2 · 12 blocks · d_model 32 · 1.8 M params · BPE vocabulary 50,257 · float32');
    expect(await page.getByTestId('field-error-lm').count()).toBe(0);
    // The quick preset is for the toy models: suggested, not refused.
    await page.getByTestId('sae-gpt2-hint').waitFor();
    await screenshot(page, 'gpt2-new-run-lm-described');
  });

  it('inspects the text set: a JSONL line without "text", then a folder refused until it is streamed', async () => {
    await page.getByTestId('corpus-file').check();
    await page.getByTestId('corpus-path').fill(badJsonl);
    await expect
      .poll(() => text('field-error-corpus'))
      .toBe(`line 2 of ${badJsonl} has no string field "text" (its fields: body)`);
    await page.getByTestId('corpus-path').fill(setDir);
    const bytes = ['a.txt', 'more/b.txt', 'c.jsonl'].reduce(
      (s, f) => s + fs.statSync(path.join(setDir, f)).size,
      0,
    );
    await expect
      .poll(() => text('corpus-info'))
      .toBe(`Folder · 3 files (2 plain text, 1 JSONL) · ${(bytes / 1024).toFixed(1)} KiB`);
    await expect
      .poll(() => text('field-error-corpus'))
      .toBe(
        'A folder is read as a stream: choose a gpt2-* preset (e.g. gpt2-small-cpu), or set Buffer tokens under More options',
      );
    expect(await page.getByTestId('queue-button').isDisabled()).toBe(true);
    await screenshot(page, 'gpt2-new-run-streaming-error');
  });

  it('the suggested gpt2-small-cpu preset fixes it; the command line holds what the run is queued with', async () => {
    await page.getByTestId('sae-gpt2-hint').getByRole('button', { name: 'Use gpt2-small-cpu' }).click();
    expect(await page.getByTestId('sae-preset').inputValue()).toBe('gpt2-small-cpu');
    await expect.poll(() => page.getByTestId('field-error-corpus').count()).toBe(0);
    expect(await page.getByTestId('sae-gpt2-hint').count()).toBe(0);
    // The preset's setup and blocks (ffblock at 1, 6, 11), a quick run: SAE width 128, k 8, 4 steps, 256 eval tokens.
    await page.locator('[data-testid="sae-setups"] [data-value="tblock"]').click();
    await page.locator('[data-testid="sae-setups"] [data-value="ffblock"]').click();
    await page.getByTestId('sae-steps').fill('4');
    await page.locator('[data-testid="form-sae"] details.more summary').click();
    await page.getByTestId('sae-width').fill('128');
    await page.getByTestId('sae-k').fill('8');
    await page.getByTestId('sae-eval-tokens').fill('256');
    await expect.poll(command).toContain('--preset gpt2-small-cpu');
    const line = (await command())!;
    for (const part of [
      `--lm ${lmDir}`,
      '--arch topk',
      '--setup ffblock',
      '--steps 4',
      '--width 128',
      '--k 8',
    ])
      expect(line).toContain(part);
    expect(line).toContain(`--corpus ${setDir}`);
    await screenshot(page, 'gpt2-new-run-text-set-folder');
    await page.setViewportSize({ width: 640, height: 900 });
    // Laid out again and painted down to the Queue button before the full-page capture.
    await page.getByTestId('queue-button').scrollIntoViewIfNeeded();
    await page.waitForTimeout(300);
    await screenshot(page, 'gpt2-new-run-narrow');
    await page.setViewportSize({ width: 1360, height: 900 });

    const started = Date.now();
    await page.getByTestId('queue-button').click();
    await page.getByTestId('run-page').waitFor();
    await page.locator('[data-testid="run-page"][data-status="completed"]').waitFor({ timeout: 300_000 });
    console.log(
      `[e2e] GPT-2 SAE from the UI: queued → completed in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    const id = await page.getByTestId('run-page').getAttribute('data-run-id');
    const run = await api<{ config: { kind: string; config: Record<string, unknown> } }>(server, 'runs.get', {
      id,
    });
    expect(run.config.config).toMatchObject({
      lm: lmDir,
      corpus: setDir,
      arch: 'topk',
      setup: 'ffblock',
      width: 128,
      k: 8,
      layers: [1, 6, 11],
      stream: { bufferTokens: 8192 },
    });
    await screenshot(page, 'gpt2-new-run-completed');
    saeRunId = id!;
  });

  it('SCALAR from the SAE run page through the app: every pair at blocks 1, 6, 11, then the explorer', async () => {
    await page.getByTestId('run-eval-scalar').click();
    await page.getByTestId('form-scalar').waitFor();
    // A quick measurement: the CLI integration test's sizes (2 attribution and 2 evaluation windows, 20 resamples).
    await page.getByTestId('scalar-preset').selectOption('quick');
    await page.getByTestId('scalar-attribution-seqs').fill('2');
    await page.getByTestId('scalar-eval-seqs').fill('2');
    await page.locator('[data-testid="form-scalar"] details.more summary').click();
    await page.getByTestId('scalar-bootstrap').fill('20');
    await expect.poll(command).toContain(`--sae ${saeRunId}`);
    const started = Date.now();
    await page.getByTestId('queue-button').click();
    await page.locator('[data-testid="run-page"][data-status="completed"]').waitFor({ timeout: 300_000 });
    console.log(
      `[e2e] GPT-2 SCALAR from the UI: queued → completed in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    const rows = page.getByTestId('scalar-pair-row');
    await expect.poll(() => rows.count()).toBe(3);
    const labels = await rows.allTextContents();
    for (const [i, block] of [1, 6, 11].entries()) expect(labels[i]).toContain(`ffblock:${block}`);
    await screenshot(page, 'gpt2-new-run-scalar');
    await rows.first().getByTestId('scalar-pair-explore').click();
    await page.getByTestId('circuit-explorer').waitFor();
    await screenshot(page, 'gpt2-new-run-explorer');
  });

  it('offers the folder the run used as a model: in the picker and on the Models page', async () => {
    await gotoHash(page, server, '#/models');
    const row = page.locator(`[data-testid="model-list"] tr[data-model-ref="${lmDir}"]`);
    await row
      .filter({ hasText: 'model folder' })
      .filter({ hasText: 'openai-community/gpt2-tiny-test' })
      .waitFor();
    await screenshot(page, 'gpt2-new-run-models-page');
    await gotoHash(page, server, '#/new?kind=sae');
    const option = page.locator(`[data-testid="lm-picker-select"] optgroup[label="Model folders"] option`);
    await expect.poll(() => option.getAttribute('value')).toBe(lmDir);
  });
});
