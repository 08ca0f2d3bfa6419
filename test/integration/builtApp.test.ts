/**
 * The built app runs jobs: `npm run build` (into a private out dir, so the shared out/ is left alone), then web
 * mode started from the build output with plain `node` (no tsx loader), and a short train-lm job driven over the
 * WebSocket Api to completion. The job runs in the built worker entry with the precompiled SIMD kernels.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LM_PRESETS, LmTrainConfigSchema } from '../../src-shared/lm.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
/** Set to an existing build's out dir (e.g. `out`) to test that build instead of building afresh. */
const REUSE = process.env.SCALAR_BUILT_APP_DIR;
// Inside the repository, so the built code finds node_modules as the real out/ does.
const OUT = REUSE ? path.resolve(REPO, REUSE) : path.join(REPO, '.tmp', `built-app-${process.pid}`);
const MAIN = path.join(OUT, 'main');

let tmp: string;
let server: ChildProcess | undefined;
let serverLog = '';

/** Runs a command to completion; rejects with the tail of its output on failure. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}\n${log.slice(-4000)}`)),
    );
  });
}

/** The environment of the built server: no loader hooks inherited from the test runner. */
function plainNodeEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  delete env.SCALAR_BACKEND;
  delete env.SCALAR_DATA_DIR;
  return env;
}

/** Starts `node out/main/serve.js` and resolves with the {url, port} line it prints once listening. */
function startServer(dataDir: string, env: NodeJS.ProcessEnv): Promise<{ url: string; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [path.join(MAIN, 'serve.js'), '--data-dir', dataDir, '--port', '0', '--json'],
      { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    server = child;
    let stdout = '';
    child.stderr!.on('data', (d) => (serverLog += d));
    child.stdout!.on('data', (d) => {
      stdout += d;
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line));
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`built server exited ${code}\n${serverLog}`)));
  });
}

/** A minimal client of the wire format: requests by id, responses matched back. */
class ApiClient {
  private next = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private constructor(private ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data));
      if (msg.type !== 'response') return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(msg.error));
    });
  }

  static open(port: number, token: string): Promise<ApiClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api?token=${token}`, {
      origin: `http://127.0.0.1:${port}`,
    });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new ApiClient(ws)));
      ws.once('error', reject);
    });
  }

  call<T = Record<string, unknown>>(method: string, params: unknown): Promise<T> {
    const id = this.next++;
    this.ws.send(JSON.stringify({ type: 'request', id, method, params }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve: resolve as never, reject }));
  }

  close(): void {
    this.ws.close();
  }
}

/** Every `siblingEntry(import.meta.url, '<name>')` in the main-side sources: the worker entries. */
function workerEntryNames(dir = path.join(REPO, 'src-main')): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return workerEntryNames(full);
    if (!e.name.endsWith('.ts')) return [];
    const text = fs.readFileSync(full, 'utf8');
    return [...text.matchAll(/siblingEntry\(\s*import\.meta\.url,\s*'([^']+)'\s*\)/g)].map((m) => m[1]!);
  });
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-built-app-'));
  if (!REUSE) await run('npm', ['run', 'build', '--', '--outDir', OUT]);
}, 180_000);

afterAll(async () => {
  if (server && server.exitCode === null && server.signalCode === null) {
    const exited = new Promise((r) => server!.once('exit', r));
    server.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (server.exitCode === null) server.kill('SIGKILL');
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  if (!REUSE) fs.rmSync(OUT, { recursive: true, force: true });
});

describe('npm run build', () => {
  it('writes every worker entry as .js next to the built code, and the precompiled SIMD kernels', () => {
    const names = workerEntryNames();
    expect(names.length).toBeGreaterThanOrEqual(4);
    for (const name of names) expect(fs.existsSync(path.join(MAIN, `${name}.js`)), name).toBe(true);
    for (const entry of ['index.js', 'serve.js', 'simd-kernels.wasm'])
      expect(fs.existsSync(path.join(MAIN, entry)), entry).toBe(true);
    expect(WebAssembly.validate(fs.readFileSync(path.join(MAIN, 'simd-kernels.wasm')))).toBe(true);
    expect(fs.existsSync(path.join(OUT, 'renderer', 'index.html'))).toBe(true);
    expect(fs.existsSync(path.join(OUT, 'preload', 'index.cjs'))).toBe(true);
    // Nothing in the built main side reaches back into the TypeScript sources.
    for (const file of fs.readdirSync(MAIN).filter((f) => f.endsWith('.js')))
      expect(fs.readFileSync(path.join(MAIN, file), 'utf8')).not.toMatch(/from\s+["'][^"']*\.ts["']/);
  });
});

describe('web mode from the build output (node out/main/serve.js, no tsx)', () => {
  it('runs a short train-lm job to completion over the WebSocket Api', async () => {
    // An empty kernel cache: the built engine must load out/main/simd-kernels.wasm, never compile.
    const kernelCache = path.join(tmp, 'kernel-cache');
    const env = plainNodeEnv({ SCALAR_KERNEL_CACHE: kernelCache });
    const { url, port } = await startServer(path.join(tmp, 'data'), env);
    const token = new URL(url).searchParams.get('token')!;
    const api = await ApiClient.open(port, token);
    try {
      const quick = LM_PRESETS.quick;
      const config = LmTrainConfigSchema.parse({
        preset: 'quick',
        model: quick.model,
        schedule: { ...quick.schedule, steps: 20, warmupSteps: 2, evalEvery: 10, evalBatches: 2 },
        seed: 1,
      });
      const started = await api.call<{ id: string }>('jobs.start', {
        spec: { kind: 'train-lm', config },
        name: 'built app',
      });
      let run: Record<string, unknown> = {};
      const deadline = Date.now() + 90_000;
      while (Date.now() < deadline) {
        run = await api.call('runs.get', { id: started.id });
        if (!['queued', 'running'].includes(run.status as string)) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(run.status, `run ${JSON.stringify(run.error)}\n${serverLog}`).toBe('completed');
      expect(run.backend).toMatch(/\S/);
      const summary = run.summary as { valLoss?: number };
      expect(Number.isFinite(summary.valLoss)).toBe(true);
      const valLoss = await api.call<{ step: number; value: number }[]>('runs.metrics', {
        id: started.id,
        key: 'val_loss',
      });
      expect(valLoss.length).toBeGreaterThan(0);
      expect(valLoss.every((p) => Number.isFinite(p.value))).toBe(true);
      expect(fs.existsSync(kernelCache) ? fs.readdirSync(kernelCache) : []).toEqual([]);
    } finally {
      api.close();
    }
  }, 120_000);
});
