/**
 * The circuit explorer and the latent pages end to end (web mode, system Chromium), on data built like a quick
 * pipeline (explorerData.ts: LM 30 steps → TopK and Staircase tblock SAEs 20 steps → latent statistics → SCALAR
 * with tiny windows). From the SCALAR run page into the explorer; the budget slider and the number field move the
 * KL readout and the drawn edge count as the stored curve says; Ctrl-click pins, Esc clears; a click opens the
 * side panel and an edge leads to the partner's latent page; a label survives a reload and shows in the graph's
 * tooltip; A/B of TopK against Staircase shows both graphs and the diff over matched latents; SVG / PNG / JSON
 * exports of the graph, JSON / CSV of a latent page; a 900 px window. Screenshots under test-results/screens/.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRAW_DEFAULT, NODE_DEFAULT } from '../../src-renderer/views/circuit/drawCap.ts';
import { buildExplorerData, type ExplorerData } from './explorerData.ts';
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

if (!HAS_CHROMIUM) console.warn('[e2e] skipping the explorer suite: /usr/bin/chromium not found');

interface Curve {
  points: { n: number; mean: number | null; lo: number | null; hi: number | null }[];
  storedEdges: number;
}

/** The readout's KL at n as the explorer computes it: the stored point, else linear in log₂ N. */
function expectedKl(c: Curve, n: number): number {
  const ps = c.points.filter((p) => p.mean !== null).sort((a, b) => a.n - b.n) as {
    n: number;
    mean: number;
  }[];
  const hit = ps.find((p) => p.n === n);
  if (hit) return hit.mean;
  const k = ps.findIndex((p) => p.n > n);
  const [a, b] = [ps[k - 1], ps[k]];
  const t = (Math.log2(n) - Math.log2(a.n)) / (Math.log2(b.n) - Math.log2(a.n));
  return a.mean + (b.mean - a.mean) * t;
}

/** Waits until the graph has drawn budget n. */
async function drawn(page: Page, n: number, testid = 'circuit-graph'): Promise<void> {
  try {
    await page.locator(`[data-testid="${testid}"][data-drawn="${n}"]`).waitFor({ timeout: 30_000 });
  } catch (err) {
    await screenshot(page, `explorer-failed-${testid}-${n}`);
    const now = await page.getByTestId(testid).getAttribute('data-drawn');
    throw new Error(
      `${testid} did not draw N = ${n} (data-drawn: ${now}, url: ${page.url()}): ${String(err)}`,
    );
  }
}

/**
 * The edges the explorer draws at budget n: the top min(n, DRAW_DEFAULT), cut before the rank whose edge would
 * bring the drawn latents past NODE_DEFAULT (at least the top edge) — counted here over the stored edges.
 */
async function expectedDrawn(server: ServerProcess, run: string, pair: string, n: number): Promise<number> {
  const load = Math.min(n, DRAW_DEFAULT);
  const r = await api<{ edges: { i: number[]; j: number[] } }>(server, 'graph.edges', {
    run,
    pair,
    n: load,
    nodes: false,
  });
  const latents = new Set<string>();
  for (let rank = 0; rank < r.edges.i.length; rank++) {
    latents.add(`up ${r.edges.i[rank]}`);
    latents.add(`down ${r.edges.j[rank]}`);
    if (latents.size > NODE_DEFAULT) return Math.max(1, rank);
  }
  return Math.min(load, r.edges.i.length);
}

/** Where a node is on the screen (Cytoscape keeps its instance on the container it draws in). */
async function nodeAt(page: Page, key: string, testid = 'circuit-graph'): Promise<{ x: number; y: number }> {
  // Let a pending fit (resize observer) settle first.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  return page.evaluate(
    ({ key, testid }) => {
      const el = document.querySelector(`[data-testid="${testid}"] .nodes`) as HTMLElement & {
        _cyreg: { cy: { getElementById(id: string): { renderedPosition(): { x: number; y: number } } } };
      };
      const p = el._cyreg.cy.getElementById(key).renderedPosition();
      const r = el.getBoundingClientRect();
      return { x: r.left + p.x, y: r.top + p.y };
    },
    { key, testid },
  );
}

async function download(page: Page, click: () => Promise<void>): Promise<{ name: string; bytes: Buffer }> {
  const [d] = await Promise.all([page.waitForEvent('download'), click()]);
  const file = await d.path();
  return { name: d.suggestedFilename(), bytes: fs.readFileSync(file!) };
}

describe.skipIf(!HAS_CHROMIUM)('circuit explorer and latent pages', () => {
  let tmp: string;
  let data: ExplorerData;
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  let curve: Curve;
  /** The strongest edge of tblock:0 in the TopK run. */
  let top: { i: number; j: number };

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-e2e-explorer-'));
    await ensureRendererBuilt();
    data = await buildExplorerData(path.join(tmp, 'data'));
    console.log(`explorer data (LM, 2 SAE runs, latent stats, 2 SCALAR runs): ${data.seconds.toFixed(1)} s`);
    server = await startServer(path.join(tmp, 'data'));
    browser = await openBrowser(path.join(tmp, 'profile'));
    page = browser.page;
    curve = await api<Curve>(server, 'graph.curve', { run: data.scalarTopk, pair: 'tblock:0' });
    const e = await api<{ edges: { i: number[]; j: number[] } }>(server, 'graph.edges', {
      run: data.scalarTopk,
      pair: 'tblock:0',
      n: 1,
      nodes: false,
    });
    top = { i: e.edges.i[0], j: e.edges.j[0] };
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('opens from the SCALAR run page, and the picker lists the runs and pairs', async () => {
    await gotoHash(page, server, `#/runs/${data.scalarTopk}`);
    await page.getByTestId('scalar-pair-explore').first().click();
    await page.getByTestId('circuit-explorer').waitFor();
    expect(page.url()).toContain(`run=${data.scalarTopk}`);
    expect(decodeURIComponent(page.url())).toContain('pair=tblock:0');
    await drawn(page, 256);

    await gotoHash(page, server, '#/circuit');
    await expect.poll(() => page.getByTestId('circuit-picker-row').count()).toBe(2);
    expect(await page.getByTestId('circuit-picker-pair').count()).toBe(4);

    await gotoHash(page, server, `#/runs/${data.topk}`);
    await page.getByTestId('sae-browse-latents').click();
    await page.getByTestId('latent-list-row').first().waitFor();
  });

  it('moves the KL readout and the drawn edges with the budget, as the stored curve says', async () => {
    expect(curve.storedEdges).toBeGreaterThanOrEqual(1024);
    await gotoHash(page, server, `#/circuit?run=${data.scalarTopk}&pair=tblock:0&n=64`);
    await drawn(page, 64);
    const readout = page.getByTestId('kl-readout');
    const graph = page.getByTestId('circuit-graph');
    // Budgets the curve was measured at (exact readouts), small to large and back.
    const grid = curve.points.map((p) => p.n).filter((n) => n >= 4 && n <= Math.min(4096, curve.storedEdges));
    const picks = [grid[Math.floor(grid.length / 2)], grid[grid.length - 1], grid[0]];
    for (const n of picks) {
      await page.getByTestId('budget-input').fill(String(n));
      await page.getByTestId('budget-input').press('Enter');
      const shown = await expectedDrawn(server, data.scalarTopk, 'tblock:0', n);
      await drawn(page, shown);
      expect(await readout.getAttribute('data-n')).toBe(String(n));
      expect(await readout.getAttribute('data-exact')).toBe('yes');
      expect(Number(await readout.getAttribute('data-kl'))).toBeCloseTo(expectedKl(curve, n), 9);
      expect(Number(await graph.getAttribute('data-edges'))).toBe(shown);
    }
    // The slider itself (log scale): a position between stored budgets reads an interpolated KL.
    await page.getByTestId('budget-slider').fill('600');
    const n = Number(await readout.getAttribute('data-n'));
    expect(n).toBeGreaterThan(8);
    const shown = await expectedDrawn(server, data.scalarTopk, 'tblock:0', Math.min(n, curve.storedEdges));
    await drawn(page, shown);
    expect(Number(await graph.getAttribute('data-edges'))).toBe(shown);
    expect(Number(await readout.getAttribute('data-kl'))).toBeCloseTo(expectedKl(curve, n), 9);
    // The budget rests in the URL.
    await expect.poll(() => page.url()).toContain(`n=${n}`);
  });

  it('pins with Ctrl-click, keeps pins across budgets, and Esc clears them', async () => {
    await gotoHash(page, server, `#/circuit?run=${data.scalarTopk}&pair=tblock:0&n=32`);
    await drawn(page, 32);
    const at = await nodeAt(page, `n0_${top.i}`);
    await page.keyboard.down('Control');
    await page.mouse.click(at.x, at.y);
    await page.keyboard.up('Control');
    await expect.poll(() => page.getByTestId('pin-count').textContent()).toBe('1 pinned');
    expect(decodeURIComponent(page.url())).toContain(`pins=0:${top.i}`);
    await page.getByTestId('budget-input').fill('128');
    await page.getByTestId('budget-input').press('Enter');
    await drawn(page, 128);
    expect(await page.getByTestId('pin-count').textContent()).toBe('1 pinned');
    await page.getByTestId('filter-pinned-only').check();
    await drawn(page, 128);
    const onlyPinned = Number(await page.getByTestId('circuit-graph').getAttribute('data-edges'));
    expect(onlyPinned).toBeGreaterThan(0);
    expect(onlyPinned).toBeLessThan(128);
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await page.keyboard.press('Escape');
    await expect.poll(() => page.getByTestId('pin-count').textContent()).toBe('0 pinned');
    expect(page.url()).not.toContain('pins=');
    expect(Number(await page.getByTestId('circuit-graph').getAttribute('data-edges'))).toBe(128);
  });

  it('opens the side panel on click and follows an edge to the latent page', async () => {
    await gotoHash(page, server, `#/circuit?run=${data.scalarTopk}&pair=tblock:0&n=64`);
    await drawn(page, 64);
    const at = await nodeAt(page, `n0_${top.i}`);
    await page.mouse.click(at.x, at.y);
    const panel = page.getByTestId('node-panel');
    await panel.waitFor();
    expect(await panel.getAttribute('data-latent')).toBe(String(top.i));
    await screenshot(page, 'explorer-single');
    const link = panel.getByTestId('node-edges-down').getByTestId('node-edge-link').first();
    await link.waitFor();
    expect(await link.textContent()).toBe(`#${top.j}`);
    await link.click();
    await page.getByTestId('latent-page').waitFor();
    expect(await page.getByTestId('latent-page').getAttribute('data-latent')).toBe(String(top.j));
    await page.getByTestId('latent-context').first().waitFor();
    // Its upstream edges lead back to where we came from.
    await expect
      .poll(() => page.getByTestId('latent-edges-up').getByTestId('latent-edge-link').first().textContent())
      .toBe(`#${top.i}`);
  });

  it('labels a latent: the label survives a reload and shows in the explorer tooltip', async () => {
    const hash = `#/latent?run=${data.topk}&hook=blocks.1.hook_resid_pre&id=${top.j}`;
    await gotoHash(page, server, hash);
    await page.getByTestId('latent-label-edit').click();
    await page.getByTestId('latent-label-input').fill('e2e: strongest downstream latent');
    await page.getByTestId('latent-note-input').fill('a note written by the explorer suite');
    await page.getByTestId('latent-label-save').click();
    await expect.poll(() => page.getByTestId('latent-label').textContent()).toContain('e2e: strongest');
    await page.reload();
    await page.getByTestId('latent-header').waitFor();
    expect(await page.getByTestId('latent-label').textContent()).toContain(
      'e2e: strongest downstream latent',
    );
    expect(await page.getByTestId('latent-note').textContent()).toContain('a note written');
    await screenshot(page, 'latent-page');

    // Exports of the page.
    const json = await download(page, () => page.getByTestId('latent-export-json').click());
    const detail = JSON.parse(json.bytes.toString()) as { id: number; label: { text: string } };
    expect(detail.id).toBe(top.j);
    expect(detail.label.text).toContain('e2e');
    const csv = await download(page, () => page.getByTestId('latent-export-csv').click());
    const lines = csv.bytes.toString().trim().split('\n');
    expect(lines[0]).toBe('kind,bucket,context,seq,pos,index,token,token_id,activation,center');
    expect(lines.length).toBeGreaterThan(1);

    await gotoHash(page, server, `#/circuit?run=${data.scalarTopk}&pair=tblock:0&n=64`);
    await drawn(page, 64);
    const at = await nodeAt(page, `n1_${top.j}`);
    await page.mouse.move(at.x, at.y);
    await expect
      .poll(() => page.getByTestId('node-tooltip-label').textContent())
      .toBe('e2e: strongest downstream latent');
  });

  it('exports the graph as SVG, PNG and JSON', async () => {
    await gotoHash(page, server, `#/circuit?run=${data.scalarTopk}&pair=tblock:0&n=64`);
    await drawn(page, 64);
    const graph = page.getByTestId('circuit-graph');
    const svg = await download(page, () => page.getByTestId('export-svg').click());
    expect(svg.name).toMatch(/\.svg$/);
    const text = svg.bytes.toString();
    expect(text.startsWith('<svg')).toBe(true);
    expect((text.match(/<line /g) ?? []).length).toBe(64);
    const png = await download(page, () => page.getByTestId('export-png').click());
    expect(png.bytes.subarray(1, 4).toString()).toBe('PNG');
    const json = await download(page, () => page.getByTestId('export-json').click());
    const doc = JSON.parse(json.bytes.toString()) as {
      metadata: { scalar_run: string; budget_n: number };
      qParams: { n: number; pair: string };
      nodes: { node_id: string; feature: number }[];
      links: { source: string; target: string; weight: number; rank: number }[];
    };
    expect(doc.metadata.scalar_run).toBe(data.scalarTopk);
    expect(doc.qParams).toMatchObject({ n: 64, pair: 'tblock:0' });
    expect(doc.links.length).toBe(64);
    expect(doc.nodes.length).toBe(Number(await graph.getAttribute('data-nodes')));
    expect(doc.links[0]).toMatchObject({ source: `n0_${top.i}`, target: `n1_${top.j}`, rank: 0 });
  });

  it('A/B: TopK against Staircase shows both graphs and the diff over matched latents', async () => {
    await gotoHash(page, server, `#/circuit?run=${data.scalarTopk}&pair=tblock:0&pick=b`);
    await page.getByTestId('circuit-picker-b').first().click();
    await page.locator('[data-mode="ab"]').waitFor();
    expect(page.url()).toContain(`b=${data.scalarStaircase}`);
    await page.getByTestId('budget-input').fill('256');
    await page.getByTestId('budget-input').press('Enter');
    await drawn(page, 256);
    await drawn(page, 256, 'circuit-graph-b');
    const summary = page.getByTestId('ab-summary');
    expect(await summary.getAttribute('data-same-sae')).toBe('no');
    await page.getByTestId('ab-matches').waitFor({ timeout: 60_000 });
    const count = async (id: string) => Number(await page.getByTestId(id).getAttribute('data-count'));
    const counts = {
      shared: await count('ab-shared'),
      onlyA: await count('ab-only-a'),
      onlyB: await count('ab-only-b'),
      unmatched: await count('ab-unmatched'),
    };
    // Every edge of A and of B is shared, only in one, or has an unmatched latent.
    expect(2 * counts.shared + counts.onlyA + counts.onlyB + counts.unmatched).toBe(512);
    expect(await page.getByTestId('ab-matches').textContent()).toContain('blocks.0.hook_resid_pre');
    await screenshot(page, 'explorer-ab');

    // Equal KL: B's budget is where its curve reaches A's KL.
    await page.getByTestId('sync-kl').click();
    await expect.poll(() => page.url()).toContain('sync=kl');
    const klA = Number(await page.getByTestId('kl-readout').getAttribute('data-kl'));
    const rb = page.getByTestId('kl-readout-b');
    await expect
      .poll(
        async () =>
          Number(await rb.getAttribute('data-kl')) <= klA + 1e-9 ||
          (await rb.getAttribute('data-n')) === String(curve.storedEdges),
      )
      .toBe(true);
    const nB = Number(await rb.getAttribute('data-n'));
    // The graph draws the top min(N, cap) edges of its budget within the latent cap (drawCap.ts); the readout
    // stays at N.
    await drawn(page, await expectedDrawn(server, data.scalarStaircase, 'tblock:0', nB), 'circuit-graph-b');
  });

  it('works in a 900 px window', async () => {
    await page.setViewportSize({ width: 900, height: 900 });
    await gotoHash(page, server, `#/circuit?run=${data.scalarTopk}&pair=tblock:0&n=128&sel=a:0:${top.i}`);
    await drawn(page, 128);
    await page.getByTestId('node-panel').waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(900);
    await screenshot(page, 'explorer-900');
    await gotoHash(page, server, `#/latent?run=${data.topk}&hook=blocks.1.hook_resid_pre&id=${top.j}`);
    await page.getByTestId('latent-header').waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(900);
    await screenshot(page, 'latent-900');
    expect(browser.problems.filter((p) => !/favicon/.test(p))).toEqual([]);
  });
});
