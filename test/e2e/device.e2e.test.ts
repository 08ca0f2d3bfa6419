/**
 * What computed a run, from the CLI to the UI: two real tiny LM runs through the CLI, one on the wasm rung and
 * one forced onto the webgpu rung on a software adapter (llvmpipe / SwiftShader, as the webgpu tests use). The
 * CLI's --json carries the device and the adapter (vendor, architecture, driver, API, software); the run page
 * shows the backend and the device, marks a software adapter and a run without an adapter; the System view's
 * machine section shows the latest run's adapter. Screens under test-results/screens/device-*.png.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../integration/lmCli.helpers.ts';
import { softwareAdapterEnv } from '../webgpu/webgpu.helpers.ts';
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

interface Adapter {
  vendor: string;
  architecture: string;
  device: string;
  driver: string;
  api: string;
  software: boolean;
}
/** What the UI names an adapter by: vendor and architecture, else the device name. */
const name = (a: Adapter) => [a.vendor, a.architecture].filter(Boolean).join(' ') || a.device;
type Out = { run_id: string; backend: string; device: string | null; adapter: Adapter | null };

describe.skipIf(!HAS_CHROMIUM)('the device a run computed on, in the CLI and the UI', () => {
  let tmp: string;
  let dataDir: string;
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  const cli: Record<'wasm' | 'webgpu', Out> = {} as never;

  beforeAll(async () => {
    await ensureRendererBuilt();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-device-e2e-'));
    dataDir = path.join(tmp, 'data');
    const args = ['train-lm', '--preset', 'quick', '--steps', '4', '--batch-size', '4', '--eval-every', '2'];
    for (const [backend, env] of [
      ['wasm', { SCALAR_BACKEND: '' }],
      ['webgpu', { ...softwareAdapterEnv('llvmpipe'), SCALAR_BACKEND: 'webgpu' }],
    ] as const) {
      const r = await runCli([...args, '--name', `on ${backend}`, '--data-dir', dataDir, '--json'], env);
      expect(r.code, r.stderr.slice(-2000)).toBe(0);
      cli[backend] = r.json as Out;
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

  it("the CLI's --json names the device, and the adapter on webgpu", () => {
    expect(cli.wasm.backend).toBe('wasm');
    expect(cli.wasm.adapter).toBeNull();
    expect(cli.wasm.device).toMatch(/^CPU: /);
    const a = cli.webgpu.adapter!;
    expect(cli.webgpu.backend).toBe('webgpu');
    expect(a.software).toBe(true); // no GPU here: llvmpipe or SwiftShader
    // Dawn's OpenGL ES backend leaves vendor and architecture empty and names the device instead.
    expect(name(a)).not.toBe('');
    expect(a.driver.length).toBeGreaterThan(0);
    expect(cli.webgpu.device).toContain('software adapter');
  });

  it('the run page shows the backend and the software adapter it ran on', async () => {
    const a = cli.webgpu.adapter!;
    await gotoHash(page, server, `#/runs/${cli.webgpu.run_id}`);
    await page.locator('[data-testid="run-page"][data-status="completed"]').waitFor();
    expect(await page.getByTestId('run-backend').textContent()).toContain('webgpu');
    const device = (await page.getByTestId('run-device').textContent())!;
    expect(device).toContain(a.driver);
    expect(device).toContain(a.api);
    expect(device).toContain(name(a));
    expect(await page.getByTestId('run-device-software').isVisible()).toBe(true);
    // The full record is the tooltip.
    const title = (await page.getByTestId('run-device').getAttribute('title'))!;
    expect(title).toContain(`driver: ${a.driver}`);
    await screenshot(page, 'device-run-webgpu');
  });

  it('the run page of a wasm run names the CPU and says there was no GPU adapter', async () => {
    await gotoHash(page, server, `#/runs/${cli.wasm.run_id}`);
    await page.locator('[data-testid="run-page"][data-status="completed"]').waitFor();
    expect(await page.getByTestId('run-backend').textContent()).toContain('wasm');
    const device = (await page.getByTestId('run-device').textContent())!;
    expect(device).toContain(cli.wasm.device!);
    expect(device).toContain('no GPU adapter');
    expect(await page.getByTestId('run-device-software').count()).toBe(0);
    await screenshot(page, 'device-run-wasm');
  });

  it("the System view's machine section shows the latest run's adapter", async () => {
    const a = cli.webgpu.adapter!;
    await gotoHash(page, server, '#/system');
    await page.getByTestId('system-facts').waitFor();
    const text = (await page.getByTestId('system-device').textContent())!;
    expect(text).toContain(name(a));
    expect(text).toContain(a.driver);
    // Visible, not cut off by the row's ellipsis.
    expect(await page.getByTestId('system-device').getByText('software adapter').isVisible()).toBe(true);
    await screenshot(page, 'device-system');
    expect(browser.problems).toEqual([]);
  });
});
