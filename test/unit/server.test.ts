/**
 * Web-mode server: token, Host/Origin checks and the static path guard as pure functions, then the same rules
 * over real sockets (HTTP + WebSocket) against a fake Api, so no engine or database is involved.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Api, ApiMethod, ApiParams, ApiResult } from '../../src-shared/api.ts';
import type { JobEvent } from '../../src-shared/jobs.ts';
import {
  checkUpgrade,
  contentSecurityPolicy,
  generateToken,
  hostAllowed,
  originAllowed,
  readCookie,
  sessionCookie,
  sessionCookieName,
  tokenMatches,
} from '../../src-main/server/security.ts';
import { cacheControlFor, findStaticFile, resolveStaticPath } from '../../src-main/server/static.ts';
import { rendererBuildState } from '../../src-main/server/rendererBuild.ts';
import { startWebServer, type WebServer } from '../../src-main/server/webServer.ts';
import { dispatchWireRequest, dispatchWireText } from '../../src-main/server/wire.ts';

const PORT = 43123;

describe('access token', () => {
  it('is 32 random bytes, URL-safe, fresh each time', () => {
    const a = generateToken();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(generateToken()).not.toBe(a);
  });

  it('matches only the exact token', () => {
    const token = generateToken();
    expect(tokenMatches(token, token)).toBe(true);
    expect(tokenMatches(`${token}x`, token)).toBe(false);
    expect(tokenMatches(token.slice(0, -1), token)).toBe(false);
    expect(tokenMatches(token.toUpperCase(), token)).toBe(false);
    expect(tokenMatches('', token)).toBe(false);
    expect(tokenMatches(null, token)).toBe(false);
    expect(tokenMatches(undefined, token)).toBe(false);
    expect(tokenMatches('', '')).toBe(false);
  });

  it('reads the per-port session cookie', () => {
    const header = `other=1; ${sessionCookieName(PORT)}=abc; ${sessionCookieName(PORT + 1)}=zzz`;
    expect(readCookie(header, sessionCookieName(PORT))).toBe('abc');
    expect(readCookie(undefined, sessionCookieName(PORT))).toBeNull();
    expect(readCookie('garbage', sessionCookieName(PORT))).toBeNull();
    expect(sessionCookie(PORT, 'abc')).toMatch(/HttpOnly; SameSite=Strict; Path=\//);
  });
});

describe('Host and Origin checks', () => {
  it('accepts only this server on 127.0.0.1 or localhost', () => {
    expect(hostAllowed(`127.0.0.1:${PORT}`, PORT)).toBe(true);
    expect(hostAllowed(`localhost:${PORT}`, PORT)).toBe(true);
    expect(hostAllowed(`LOCALHOST:${PORT}`, PORT)).toBe(true);
    for (const bad of [
      `127.0.0.1:${PORT + 1}`,
      '127.0.0.1',
      `evil.example:${PORT}`,
      `127.0.0.1:${PORT}.evil.example`,
      `0.0.0.0:${PORT}`,
      '',
    ]) {
      expect(hostAllowed(bad, PORT), bad).toBe(false);
    }
    expect(hostAllowed(undefined, PORT)).toBe(false);
  });

  it('refuses foreign and opaque origins, allows none (non-browser clients)', () => {
    expect(originAllowed(`http://127.0.0.1:${PORT}`, PORT)).toBe(true);
    expect(originAllowed(`http://localhost:${PORT}`, PORT)).toBe(true);
    expect(originAllowed(undefined, PORT)).toBe(true);
    for (const bad of [
      'null',
      `https://127.0.0.1:${PORT}`,
      `http://127.0.0.1:${PORT + 1}`,
      'http://evil.example',
      `http://evil.example:${PORT}`,
      'file://',
    ]) {
      expect(originAllowed(bad, PORT), bad).toBe(false);
    }
  });

  it('decides WebSocket upgrades on path, host, origin and token', () => {
    const token = generateToken();
    const opts = { port: PORT, token, path: '/api' };
    const host = `127.0.0.1:${PORT}`;
    const origin = `http://127.0.0.1:${PORT}`;
    const up = (url: string, headers: { host?: string; origin?: string } = { host, origin }) =>
      checkUpgrade({ url, headers }, opts);
    expect(up(`/api?token=${token}`)).toEqual({ ok: true });
    expect(up('/api')).toMatchObject({ ok: false, status: 401 });
    expect(up('/api?token=wrong')).toMatchObject({ ok: false, status: 401 });
    expect(up(`/other?token=${token}`)).toMatchObject({ ok: false, status: 404 });
    expect(up(`/api?token=${token}`, { host, origin: 'http://evil.example' })).toMatchObject({
      ok: false,
      status: 403,
    });
    expect(up(`/api?token=${token}`, { host: `evil.example:${PORT}`, origin })).toMatchObject({
      ok: false,
      status: 403,
    });
    expect(up(`//evil.example/api?token=${token}`)).toMatchObject({ ok: false, status: 400 });
  });

  it('builds a CSP without inline code and with only the given connect targets', () => {
    const csp = contentSecurityPolicy(['ws://127.0.0.1:1']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).toContain("connect-src 'self' ws://127.0.0.1:1");
    expect(contentSecurityPolicy()).toContain("connect-src 'self';");
  });
});

describe('static path guard', () => {
  let root: string;
  let outside: string;

  beforeAll(() => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-static-'));
    root = path.join(base, 'renderer');
    outside = path.join(base, 'secret.txt');
    fs.mkdirSync(path.join(root, 'assets'), { recursive: true });
    fs.writeFileSync(path.join(root, 'index.html'), '<!doctype html>');
    fs.writeFileSync(path.join(root, 'assets', 'app.js'), '');
    fs.writeFileSync(path.join(root, '.env'), 'SECRET=1');
    fs.writeFileSync(outside, 'secret');
    fs.symlinkSync(outside, path.join(root, 'assets', 'link.txt'));
    fs.symlinkSync(path.dirname(root), path.join(root, 'up'));
  });
  afterAll(() => fs.rmSync(path.dirname(root), { recursive: true, force: true }));

  it('maps app paths inside the root', () => {
    expect(resolveStaticPath(root, '/')).toBe(path.join(root, 'index.html'));
    expect(resolveStaticPath(root, '/assets/app.js')).toBe(path.join(root, 'assets', 'app.js'));
    expect(resolveStaticPath(root, '/assets/app%2Ejs')).toBe(path.join(root, 'assets', 'app.js'));
  });

  it.each([
    '/../secret.txt',
    '/assets/../../secret.txt',
    '/%2e%2e/secret.txt',
    '/%2E%2E%2Fsecret.txt',
    '/..%2fsecret.txt',
    '/assets/..%2f..%2fsecret.txt',
    '/..%5csecret.txt',
    '/assets\\..\\..\\secret.txt',
    '/%00index.html',
    '/index.html%00.js',
    '/%E0%A4%A',
    '//etc/passwd',
    '/assets//app.js',
    '/.env',
    '/assets/.',
    'index.html',
    '',
  ])('refuses %j', (requestPath) => {
    expect(resolveStaticPath(root, requestPath)).toBeNull();
    expect(findStaticFile(root, requestPath)).toBeNull();
  });

  it('refuses symlinks that lead out of the root, and directories', () => {
    expect(resolveStaticPath(root, '/assets/link.txt')).not.toBeNull();
    expect(findStaticFile(root, '/assets/link.txt')).toBeNull();
    expect(findStaticFile(root, '/up/secret.txt')).toBeNull();
    expect(findStaticFile(root, '/assets')).toBeNull();
    expect(findStaticFile(root, '/assets/app.js')).toBe(fs.realpathSync(path.join(root, 'assets', 'app.js')));
  });

  it('never caches index.html; hashed assets are immutable', () => {
    expect(cacheControlFor('/')).toBe('no-store');
    expect(cacheControlFor('/index.html')).toBe('no-store');
    expect(cacheControlFor('/assets/index-abc.js')).toContain('immutable');
  });
});

describe('renderer build freshness', () => {
  it('is missing without index.html, stale when a source is newer, else fresh', () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-build-'));
    const out = path.join(base, 'out');
    const src = path.join(base, 'src');
    fs.mkdirSync(out);
    fs.mkdirSync(path.join(src, 'views'), { recursive: true });
    fs.writeFileSync(path.join(src, 'views', 'A.svelte'), '');
    expect(rendererBuildState(out, [src])).toBe('missing');
    fs.writeFileSync(path.join(out, 'index.html'), '');
    const past = new Date(Date.now() - 60_000);
    fs.utimesSync(path.join(src, 'views', 'A.svelte'), past, past);
    fs.utimesSync(path.join(src, 'views'), past, past);
    fs.utimesSync(src, past, past);
    expect(rendererBuildState(out, [src])).toBe('fresh');
    fs.writeFileSync(path.join(src, 'views', 'A.svelte'), 'changed');
    expect(rendererBuildState(out, [src])).toBe('stale');
    fs.rmSync(base, { recursive: true, force: true });
  });
});

/** An Api stand-in: answers system.info, fails runs.get, and emits events on demand. */
class FakeApi implements Api {
  readonly events = new EventEmitter();
  calls: { method: string; params: unknown }[] = [];

  async call<M extends ApiMethod>(method: M, params: ApiParams<M>): Promise<ApiResult<M>> {
    this.calls.push({ method, params });
    if (method === 'runs.get') throw new Error(`run ${(params as { id: string }).id} not found`);
    return { method, echo: params } as unknown as ApiResult<M>;
  }

  onEvent(listener: (e: JobEvent) => void): () => void {
    this.events.on('e', listener);
    return () => this.events.off('e', listener);
  }
}

describe('wire dispatch', () => {
  const api = new FakeApi();

  it('answers a valid request', async () => {
    const r = await dispatchWireRequest(api, { type: 'request', id: 7, method: 'system.info', params: {} });
    expect(r).toEqual({ type: 'response', id: 7, ok: true, result: { method: 'system.info', echo: {} } });
  });

  it('refuses malformed messages, unknown methods and bad params before calling the Api', async () => {
    api.calls = [];
    expect(await dispatchWireText(api, 'not json')).toMatchObject({
      ok: false,
      id: -1,
      error: expect.stringContaining('not JSON'),
    });
    expect(await dispatchWireRequest(api, { type: 'request', id: 1.5, method: 'system.info' })).toMatchObject(
      { ok: false, id: -1 },
    );
    expect(
      await dispatchWireRequest(api, { type: 'event', event: { type: 'log', runId: 'x', message: 'm' } }),
    ).toMatchObject({ ok: false });
    for (const method of ['constructor', '__proto__', 'toString', 'runs.drop']) {
      expect(await dispatchWireRequest(api, { type: 'request', id: 2, method, params: {} })).toMatchObject({
        ok: false,
        id: 2,
        error: `unknown method '${method}'`,
      });
    }
    expect(
      await dispatchWireRequest(api, { type: 'request', id: 3, method: 'runs.get', params: { id: 5 } }),
    ).toMatchObject({
      ok: false,
      id: 3,
      error: expect.stringContaining('invalid params for runs.get'),
    });
    expect(
      await dispatchWireRequest(api, {
        type: 'request',
        id: 4,
        method: 'jobs.start',
        params: { spec: { kind: 'rm -rf' } },
      }),
    ).toMatchObject({ ok: false, id: 4 });
    expect(api.calls).toEqual([]);
  });

  it('turns an Api error into an error response', async () => {
    expect(
      await dispatchWireRequest(api, { type: 'request', id: 9, method: 'runs.get', params: { id: 'nope' } }),
    ).toEqual({
      type: 'response',
      id: 9,
      ok: false,
      error: 'run nope not found',
    });
  });
});

interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A raw HTTP GET: the path goes on the wire exactly as given (no client-side normalisation of `..`). */
function get(port: number, rawPath: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: rawPath, headers: { host: `127.0.0.1:${port}`, ...headers } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Opens a WebSocket; resolves with the socket, or with the HTTP status the upgrade was refused with. */
function openSocket(url: string, origin?: string): Promise<{ ws: WebSocket } | { status: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, origin ? { origin } : {});
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
    ws.once('error', reject);
  });
}

describe('web server over sockets', () => {
  const api = new FakeApi();
  let rendererDir: string;
  let server: WebServer;

  beforeAll(async () => {
    rendererDir = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-web-'));
    fs.mkdirSync(path.join(rendererDir, 'assets'));
    fs.writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html><title>app</title>');
    fs.writeFileSync(path.join(rendererDir, 'assets', 'app.js'), 'export {};');
    fs.writeFileSync(path.join(path.dirname(rendererDir), 'scalar-web-secret.txt'), 'secret');
    server = await startWebServer({ api, rendererDir });
  });
  afterAll(async () => {
    await server.close();
    fs.rmSync(rendererDir, { recursive: true, force: true });
  });

  it('binds 127.0.0.1 and prints a URL with the token', () => {
    expect(server.address).toBe('127.0.0.1');
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/?token=${server.token}`);
  });

  it('serves the app only with the token, and sets the session cookie and security headers', async () => {
    const denied = await get(server.port, '/');
    expect(denied.status).toBe(401);
    expect(denied.body).toContain('Access token needed');
    expect((await get(server.port, '/?token=wrong')).status).toBe(401);

    const page = await get(server.port, `/?token=${server.token}`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<title>app</title>');
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.headers['content-security-policy']).toContain(
      `connect-src 'self' ws://127.0.0.1:${server.port}`,
    );
    const cookie = String(page.headers['set-cookie']);
    expect(cookie).toContain(`${sessionCookieName(server.port)}=${server.token}`);

    // A page opened by cookie alone is sent to the URL with the token (the page needs it for its WebSocket).
    const byCookie = await get(server.port, '/', {
      cookie: `${sessionCookieName(server.port)}=${server.token}`,
    });
    expect(byCookie.status).toBe(302);
    expect(byCookie.headers.location).toBe(`/?token=${server.token}`);

    expect((await get(server.port, '/assets/app.js')).status).toBe(401);
    const asset = await get(server.port, '/assets/app.js', {
      cookie: `${sessionCookieName(server.port)}=${server.token}`,
    });
    expect(asset.status).toBe(200);
    expect(asset.headers['content-type']).toBe('text/javascript; charset=utf-8');
  });

  it('refuses foreign Host headers and non-GET methods', async () => {
    expect(
      (await get(server.port, `/?token=${server.token}`, { host: `evil.example:${server.port}` })).status,
    ).toBe(403);
    const post = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: server.port, path: `/?token=${server.token}`, method: 'POST' },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(post).toBe(405);
  });

  it.each([
    '/../scalar-web-secret.txt',
    '/%2e%2e/scalar-web-secret.txt',
    '/..%2fscalar-web-secret.txt',
    '/assets/..%2f..%2fscalar-web-secret.txt',
  ])('does not serve %j', async (rawPath) => {
    const res = await get(server.port, `${rawPath}?token=${server.token}`);
    expect(res.status).toBe(404);
    expect(res.body).not.toContain('secret');
  });

  it('refuses WebSocket upgrades without the token or from a foreign origin', async () => {
    const base = `ws://127.0.0.1:${server.port}/api`;
    const own = `http://127.0.0.1:${server.port}`;
    expect(await openSocket(base, own)).toEqual({ status: 401 });
    expect(await openSocket(`${base}?token=wrong`, own)).toEqual({ status: 401 });
    expect(await openSocket(`${base}?token=${server.token}`, 'http://evil.example')).toEqual({ status: 403 });
    expect(await openSocket(`ws://127.0.0.1:${server.port}/elsewhere?token=${server.token}`, own)).toEqual({
      status: 404,
    });
  });

  it('carries requests, responses and job events over the WebSocket', async () => {
    const opened = await openSocket(
      `ws://127.0.0.1:${server.port}/api?token=${server.token}`,
      `http://localhost:${server.port}`,
    );
    if (!('ws' in opened)) throw new Error(`refused with ${opened.status}`);
    const ws = opened.ws;
    const messages: unknown[] = [];
    const next = () =>
      new Promise<unknown>((resolve) => ws.once('message', (d) => resolve(JSON.parse(d.toString()))));

    let reply = next();
    ws.send(JSON.stringify({ type: 'request', id: 1, method: 'system.info', params: {} }));
    messages.push(await reply);
    reply = next();
    ws.send('{"type":"request","id":2,"method":"nope","params":{}}');
    messages.push(await reply);
    reply = next();
    api.events.emit('e', { type: 'log', runId: 'r1', message: 'hello' } satisfies JobEvent);
    messages.push(await reply);
    expect(messages).toEqual([
      { type: 'response', id: 1, ok: true, result: { method: 'system.info', echo: {} } },
      { type: 'response', id: 2, ok: false, error: "unknown method 'nope'" },
      { type: 'event', event: { type: 'log', runId: 'r1', message: 'hello' } },
    ]);
    ws.close();
  });

  it('refuses to start without a built renderer', async () => {
    await expect(startWebServer({ api, rendererDir: path.join(rendererDir, 'missing') })).rejects.toThrow(
      /no built renderer/,
    );
  });
});
