/**
 * What the end-to-end suites share: a web-mode server run as a separate process (so a test can kill it with
 * SIGKILL and start it again on the same data dir), the system Chromium, and screenshots saved under
 * test-results/screens/ for a person to look at.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { buildRenderer, PROJECT_ROOT, rendererBuildState } from '../../src-main/server/rendererBuild.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const HAS_CHROMIUM = fs.existsSync(CHROMIUM);
export const SCREENS_DIR = path.join(PROJECT_ROOT, 'test-results', 'screens');

export async function ensureRendererBuilt(): Promise<void> {
  if (rendererBuildState() !== 'fresh') await buildRenderer();
}

export interface ServerProcess {
  url: string;
  port: number;
  token: string;
  dataDir: string;
  child: ChildProcess;
  /** stderr so far (progress lines, errors), for failure messages. */
  log: () => string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** `scalar serve` on a data dir, as a child process; resolves once it printed its URL. */
export async function startServer(dataDir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [
      path.join(PROJECT_ROOT, 'bin', 'scalar.mjs'),
      'serve',
      '--data-dir',
      dataDir,
      '--port',
      '0',
      '--no-build',
      '--json',
    ],
    { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const info = await new Promise<{ url: string; port: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 60 s:\n${stderr}`)), 60_000);
    child.stdout!.on('data', (d) => {
      stdout += d;
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as { url: string; port: number });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before starting:\n${stderr}`));
    });
  });
  return {
    url: info.url,
    port: info.port,
    token: new URL(info.url).searchParams.get('token')!,
    dataDir,
    child,
    log: () => stderr,
    stop: (signal: NodeJS.Signals = 'SIGTERM') =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Console errors and page errors (CSP violations show up here). */
  problems: string[];
  close(): Promise<void>;
}

export async function openBrowser(
  profileDir: string,
  viewport = { width: 1360, height: 900 },
): Promise<Browser> {
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
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
    viewport,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  return { context, page, problems, close: () => context.close() };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(SCREENS_DIR, { recursive: true });
  const file = path.join(SCREENS_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** One Api request over the server's WebSocket (token and origin as the page sends them): tests read state here. */
export async function api<T>(server: ServerProcess, method: string, params: unknown): Promise<T> {
  const { WebSocket } = await import('ws');
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api?token=${server.token}`, {
    origin: `http://127.0.0.1:${server.port}`,
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  try {
    ws.send(JSON.stringify({ type: 'request', id: 1, method, params }));
    for (;;) {
      const data = await new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
      const msg = JSON.parse(data) as { type: string; ok?: boolean; result?: T; error?: string };
      if (msg.type !== 'response') continue;
      if (!msg.ok) throw new Error(msg.error);
      return msg.result as T;
    }
  } finally {
    ws.close();
  }
}

/** Opens the server's page once (token link, connected), then moves by hash like a user following links. */
export async function gotoHash(page: Page, server: ServerProcess, hash: string): Promise<void> {
  if (!page.url().startsWith(`http://127.0.0.1:${server.port}/`)) {
    await page.goto(server.url);
    await page
      .getByTestId('connection')
      .filter({ hasText: /^connected$/ })
      .waitFor();
  }
  await page.evaluate((h) => (location.hash = h), hash);
}
