/**
 * Web mode end to end: the real server (ScalarService over a temp data dir, the built renderer) driven by the
 * system Chromium: the first screen, and the token rules from the outside (page load and WebSocket without the
 * token are refused). The workstation's flows (training, queue, bundles) are in workstation.e2e.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket as NodeWebSocket } from 'ws';
import { ScalarService } from '../../src-main/api/service.ts';
import {
  buildRenderer,
  PROJECT_ROOT,
  RENDERER_OUT_DIR,
  rendererBuildState,
} from '../../src-main/server/rendererBuild.ts';
import { startWebServer, type WebServer } from '../../src-main/server/webServer.ts';
import { prepareDataDir } from '../../src-main/store/index.ts';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = fs.existsSync(CHROMIUM);
if (!hasChromium)
  console.warn(`[e2e] skipping web-mode suite: ${CHROMIUM} not found (apt-get install chromium)`);

const SCREENSHOT = path.join(PROJECT_ROOT, 'test-results', 'web-home.png');

describe.skipIf(!hasChromium)('web mode (system Chromium)', () => {
  let tmp: string;
  let service: ScalarService;
  let server: WebServer;
  let context: BrowserContext;
  let page: Page;
  const pageProblems: string[] = [];

  beforeAll(async () => {
    if (rendererBuildState() !== 'fresh') await buildRenderer();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-e2e-'));
    const layout = prepareDataDir({ dataDir: path.join(tmp, 'data') });
    service = new ScalarService({ dataDir: layout.root, mode: 'web' });
    server = await startWebServer({ api: service, rendererDir: RENDERER_OUT_DIR });
    context = await chromium.launchPersistentContext(path.join(tmp, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 860 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    // CSP violations and script errors show up here; the page must load cleanly under the strict policy.
    page.on('console', (m) => {
      if (m.type() === 'error') pageProblems.push(m.text());
    });
    page.on('pageerror', (e) => pageProblems.push(e.message));
  });

  afterAll(async () => {
    await context?.close();
    await server?.close();
    await service?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('shows the header with the backend preference, and the runs table', async () => {
    const response = await page.goto(server.url);
    expect(response?.status()).toBe(200);
    const info = await service.call('system.info', {});
    const backend = page.getByTestId('backend-preference');
    await backend.waitFor();
    expect(await backend.textContent()).toContain(info.backendPreference);
    expect(await page.getByTestId('mode').textContent()).toBe('web');
    expect(await page.getByTestId('data-dir').textContent()).toBe(info.dataDir);
    expect(await page.getByTestId('app-version').textContent()).toBe(`v${info.appVersion}`);
    await page
      .getByTestId('connection')
      .filter({ hasText: /^connected$/ })
      .waitFor();
    await page.getByTestId('runs-empty').waitFor();
    expect(await page.getByTestId('runs-empty').textContent()).toContain('No runs yet');
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(pageProblems).toEqual([]);
  });

  it('refuses a page load without the token (401)', async () => {
    const base = `http://127.0.0.1:${server.port}/`;
    expect((await fetch(base)).status).toBe(401);
    // In the browser too, once the session cookie from the token link is gone.
    await context.clearCookies();
    const response = await page.goto(base);
    expect(response?.status()).toBe(401);
    expect(await page.textContent('h1')).toBe('Access token needed');
  });

  it('refuses a WebSocket without the token', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new NodeWebSocket(`ws://127.0.0.1:${server.port}/api`, {
        origin: `http://127.0.0.1:${server.port}`,
      });
      ws.once('open', () => reject(new Error('opened without a token')));
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('error', reject);
    });
    expect(status).toBe(401);
    // And from a page of the server's own origin: the socket never opens.
    await page.goto(server.url);
    const outcome = await page.evaluate(
      (port) =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/api`);
          ws.onopen = () => resolve('open');
          ws.onclose = () => resolve('refused');
        }),
      server.port,
    );
    expect(outcome).toBe('refused');
  });
});
