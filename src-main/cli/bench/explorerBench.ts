/**
 * `bench explorer`: the circuit explorer in headless Chromium (web mode, the built renderer) on a stored pair
 * with 2¹⁶ edges. The store is seeded directly — an SAE run (two tblock hooks × 256 latents, no latent
 * statistics, so node sizes take the stats-free fallback) and a SCALAR run with all 65,536 edges of its pair and a
 * curve at every power of two. Figures: the time to open the page (navigation → first graph drawn), and the
 * median / 95th percentile from a slider move to the redrawn graph (the graph's data-drawn attribute at the new
 * N, then two animation frames so the canvas has painted), over log-uniform moves across the whole range; the
 * first pass fetches edges as it goes (only missing ranks), the second has them all.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ScalarService } from '../../api/service.ts';
import { buildRenderer, RENDERER_OUT_DIR, rendererBuildState } from '../../server/rendererBuild.ts';
import { startWebServer } from '../../server/webServer.ts';
import type { Store } from '../../store/index.ts';

export const EXPLORER_BENCH_EDGES = 65_536;
const WIDTH = 256;
const HOOKS = ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_pre', 'blocks.2.hook_resid_pre'];

/** Seeds an SAE run and a SCALAR run whose pair `tblock:0` stores `edges` ranked edges and a curve. */
export function seedExplorerStore(
  store: Store,
  edges = EXPLORER_BENCH_EDGES,
): { sae: string; scalar: string } {
  const sae = store.createRun({
    kind: 'sae',
    name: 'bench topk tblock (seeded)',
    config: {
      kind: 'train-sae',
      config: { arch: 'topk', setup: 'tblock', width: WIDTH, k: 8, lm: 'seeded' },
    },
    arch: 'topk',
    setup: 'tblock',
  });
  store.startRun(sae.id);
  store.finishRun(sae.id, { saes: HOOKS.map((hook) => ({ hook })) });
  const scalar = store.createRun({
    kind: 'scalar',
    name: 'bench SCALAR (seeded, 2^16 edges)',
    parentId: sae.id,
    config: { kind: 'scalar', config: { sae: sae.id, ranking: 'ig', scaling: 'reference' } },
    arch: 'topk',
    setup: 'tblock',
  });
  store.startRun(scalar.id);
  // A deterministic permutation of all WIDTH² edges with decreasing scores.
  let s = 12345;
  const rand = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const order = Array.from({ length: WIDTH * WIDTH }, (_, k) => k);
  for (let k = order.length - 1; k > 0; k--) {
    const r = Math.floor(rand() * (k + 1));
    [order[k], order[r]] = [order[r], order[k]];
  }
  const n = Math.min(edges, order.length);
  const i = new Int32Array(n);
  const j = new Int32Array(n);
  const score = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    i[r] = Math.floor(order[r] / WIDTH);
    j[r] = order[r] % WIDTH;
    score[r] = 1 / (1 + r) ** 0.7;
  }
  store.recordEdges(scalar.id, 'tblock:0', { i, j, score });
  const points = [];
  for (let e = 0; e <= 16; e++) {
    const mean = 2 * Math.exp(-e / 3) + 0.02;
    points.push({ n: 2 ** e, mean, lo: mean * 0.9, hi: mean * 1.1 });
  }
  store.recordScalarCurve(scalar.id, 'tblock:0', 'model', points);
  store.finishRun(scalar.id, {
    eval_type_id: 'scalar',
    eval_result_metrics: {
      pairs: [
        { pair: 0, label: 'tblock:0', up: HOOKS[0], down: HOOKS[1], f0: WIDTH, f1: WIDTH, edges: WIDTH ** 2 },
      ],
    },
  });
  return { sae: sae.id, scalar: scalar.id };
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const r1 = (v: number) => Math.round(v * 10) / 10;

export async function benchExplorer(opts: { moves?: number } = {}): Promise<Record<string, unknown>> {
  const moves = opts.moves ?? 40;
  const { chromium } = await import('playwright-core');
  const chromiumPath = process.env.SCALAR_CHROMIUM ?? '/usr/bin/chromium';
  if (!fs.existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath} (set SCALAR_CHROMIUM)`);
  if (rendererBuildState() !== 'fresh') await buildRenderer();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-bench-explorer-'));
  const service = new ScalarService({ dataDir: dir, mode: 'cli', autoLatentStats: false });
  const server = await startWebServer({
    api: service,
    files: service,
    rendererDir: RENDERER_OUT_DIR,
    port: 0,
  });
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run'],
  });
  try {
    const { scalar } = seedExplorerStore(service.store);
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    const startN = 16;
    const hash = `#/circuit?run=${scalar}&pair=tblock:0&n=${startN}`;
    const t0 = performance.now();
    await page.goto(`${server.url}${hash}`);
    await page.waitForSelector(`[data-testid=circuit-graph][data-drawn="${startN}"]`, { timeout: 60_000 });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const openMs = performance.now() - t0;

    // Slider positions, log-uniform over the whole range (the slider is log N), the same every run.
    let s = 7;
    const rand = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const positions = Array.from({ length: moves }, () => Math.round(rand() * 1000));
    const move = (pos: number) =>
      page.evaluate(async (p) => {
        const slider = document.querySelector<HTMLInputElement>('[data-testid=budget-slider]')!;
        const graph = document.querySelector<HTMLElement>('[data-testid=circuit-graph]')!;
        const readout = document.querySelector<HTMLElement>('[data-testid=kl-readout]')!;
        const start = performance.now();
        slider.value = String(p);
        slider.dispatchEvent(new Event('input', { bubbles: true }));
        await Promise.resolve();
        await new Promise((r) => setTimeout(r, 0));
        const target = readout.dataset.n!;
        if (graph.dataset.drawn !== target)
          await new Promise<void>((resolve) => {
            const mo = new MutationObserver(() => {
              if (graph.dataset.drawn === target) {
                mo.disconnect();
                resolve();
              }
            });
            mo.observe(graph, { attributes: true, attributeFilter: ['data-drawn'] });
          });
        await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
        return { ms: performance.now() - start, n: Number(target), edges: Number(graph.dataset.edges) };
      }, pos);
    const cold: { ms: number; n: number; edges: number }[] = [];
    for (const p of positions) cold.push(await move(p));
    const warm: { ms: number; n: number; edges: number }[] = [];
    for (const p of positions) warm.push(await move(p));
    const all = [...cold, ...warm].map((x) => x.ms);
    const small = [...cold, ...warm].filter((x) => x.n <= 4096).map((x) => x.ms);
    return {
      edges_stored: EXPLORER_BENCH_EDGES,
      open_ms: r1(openMs),
      moves: all.length,
      median_ms: r1(quantile(all, 0.5)),
      p95_ms: r1(quantile(all, 0.95)),
      first_pass_median_ms: r1(
        quantile(
          cold.map((x) => x.ms),
          0.5,
        ),
      ),
      second_pass_median_ms: r1(
        quantile(
          warm.map((x) => x.ms),
          0.5,
        ),
      ),
      up_to_4096_edges_median_ms: small.length ? r1(quantile(small, 0.5)) : null,
      max_ms: r1(Math.max(...all)),
      largest_n: Math.max(...cold.map((x) => x.n)),
    };
  } finally {
    await browser.close();
    await server.close();
    await service.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
