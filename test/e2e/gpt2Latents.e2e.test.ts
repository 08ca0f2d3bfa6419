/**
 * Latent pages and the circuit explorer at GPT-2 shape (issue 12 item 7): a 24,576-latent TopK SAE on a tiny
 * GPT-2 (real BPE vocabulary) and a SCALAR run storing 2¹⁸ edges (gpt2LatentData.ts). Checks that contexts and
 * token chips read as BPE text (not ⟨id⟩), that the latent list pages, and that the explorer loads only the top
 * edges it draws and says so. Screenshots: test-results/screens/gpt2-*.png.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGpt2LatentData, GPT2_EDGES, GPT2_WIDTH, type Gpt2LatentData } from './gpt2LatentData.ts';
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

if (!HAS_CHROMIUM) console.warn('[e2e] skipping the GPT-2 latent suite: /usr/bin/chromium not found');

async function drawn(page: Page, n: number): Promise<void> {
  await page.locator(`[data-testid="circuit-graph"][data-drawn="${n}"]`).waitFor({ timeout: 60_000 });
}

describe.skipIf(!HAS_CHROMIUM)('GPT-2-shaped latent pages and explorer (F 24,576, 2¹⁸ stored edges)', () => {
  let tmp: string;
  let data: Gpt2LatentData;
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  /** The most frequent latent at the upstream hook. */
  let latent: number;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-e2e-gpt2-'));
    await ensureRendererBuilt();
    data = await buildGpt2LatentData(tmp);
    console.log(`gpt2 latent data: ${JSON.stringify(data.seconds)}`);
    server = await startServer(path.join(tmp, 'data'));
    browser = await openBrowser(path.join(tmp, 'profile'));
    page = browser.page;
    const list = await api<{ rows: { id: number }[] }>(server, 'latents.list', {
      run: data.sae,
      hook: data.hooks[0],
      sort: 'freq',
      desc: true,
      limit: 1,
    });
    latent = list.rows[0].id;
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('shows a latent page with BPE text in contexts, top tokens and logit effects', async () => {
    await gotoHash(page, server, `#/latent?run=${data.sae}&hook=${data.hooks[0]}&id=${latent}`);
    await page.getByTestId('latent-context').first().waitFor();
    const context = await page.getByTestId('latent-context').first().innerText();
    expect(context).not.toMatch(/⟨\d+⟩/);
    expect(context).not.toContain('\uFFFD');
    expect(await page.getByTestId('latent-top-tokens').innerText()).not.toMatch(/⟨\d+⟩/);
    const logits = await page.getByTestId('latent-logits').innerText();
    expect(logits).not.toMatch(/⟨\d+⟩/);
    await screenshot(page, 'gpt2-latent-page');
  });

  it('pages the 24,576-latent list', async () => {
    await gotoHash(page, server, `#/latent?run=${data.sae}&hook=${data.hooks[0]}`);
    await page.getByTestId('latent-list-row').first().waitFor();
    expect(await page.getByTestId('latent-list-row').count()).toBeLessThanOrEqual(50);
    expect(await page.getByTestId('latent-list').innerText()).not.toMatch(/⟨\d+⟩/);
    await screenshot(page, 'gpt2-latent-list');
  });

  it('draws only the top edges of the whole stored budget and says how many', async () => {
    // A fresh tab, so its WebSocket (and every graph.edges request on it) is seen from the start.
    const tab = await browser.context.newPage();
    const requests: number[] = [];
    tab.on('websocket', (ws) =>
      ws.on('framesent', (f) => {
        const m = /"method":"graph\.edges".*?"n":(\d+)/.exec(String(f.payload));
        if (m) requests.push(Number(m[1]));
      }),
    );
    const all = GPT2_EDGES.toLocaleString('en-US');
    await gotoHash(tab, server, `#/circuit?run=${data.scalar}&pair=${data.pair}&n=${GPT2_EDGES}`);
    // 5,000 edges loaded; drawn up to the rank where the graph would pass 400 latents (drawCap.ts), counted here.
    const top = await api<{ edges: { i: number[]; j: number[] } }>(server, 'graph.edges', {
      run: data.scalar,
      pair: data.pair,
      n: 10_000,
      nodes: false,
    });
    const within = (cap: number, load: number) => {
      const latents = new Set<string>();
      for (let r = 0; r < load; r++) {
        latents.add(`up ${top.edges.i[r]}`);
        latents.add(`down ${top.edges.j[r]}`);
        if (latents.size > cap) return Math.max(1, r);
      }
      return load;
    };
    const first = within(400, 5_000);
    expect(first).toBeLessThan(5_000);
    await drawn(tab, first);
    const counts = tab.getByTestId('graph-counts');
    expect(await counts.innerText()).toContain(
      `showing the top ${first.toLocaleString('en-US')} of ${all} edges (within 400 latents)`,
    );
    expect(await counts.innerText()).toContain(`of ${(2 * GPT2_WIDTH).toLocaleString('en-US')} latents`);
    await screenshot(tab, 'gpt2-explorer-capped');
    await tab.getByTestId('graph-counts-more').click();
    const second = within(800, 10_000);
    await drawn(tab, second);
    expect(await counts.innerText()).toContain(
      `showing the top ${second.toLocaleString('en-US')} of ${all} edges`,
    );
    // Only the ranks drawn (rounded up to a power of two) were fetched, never the whole pair.
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(16_384);
    await tab.setViewportSize({ width: 640, height: 900 });
    await tab.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await screenshot(tab, 'gpt2-explorer-narrow');
    await gotoHash(tab, server, `#/latent?run=${data.sae}&hook=${data.hooks[0]}&id=${latent}`);
    await tab.getByTestId('latent-context').first().waitFor();
    await screenshot(tab, 'gpt2-latent-page-narrow');
    await tab.close();
  });

  it('renders the SAE and SCALAR run pages', async () => {
    for (const [id, name] of [
      [data.sae, 'gpt2-sae-run'],
      [data.scalar, 'gpt2-scalar-run'],
    ]) {
      await gotoHash(page, server, `#/runs/${id}`);
      await page.getByTestId('run-page').waitFor();
      await page.waitForTimeout(500);
      await screenshot(page, name);
    }
    expect(browser.problems).toEqual([]);
  });
});
