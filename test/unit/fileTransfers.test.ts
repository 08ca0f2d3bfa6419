/**
 * Uploads and downloads beside the Api: what is accepted (a readable corpus, a zip), what is refused with a
 * specific message (too big, binary, empty, not a zip, no cookie, another origin) and that a refused upload
 * leaves no file; downloads only of registered artifacts and exported files, never a path from the request.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receiveUpload, resolveDownload, UPLOAD_LIMITS, uploadsDir } from '../../src-main/api/files.ts';
import { ScalarService } from '../../src-main/api/service.ts';
import { startWebServer, type WebServer } from '../../src-main/server/webServer.ts';
import { makeTempDir, removeDir } from './store.helpers.ts';

const TEXT = 'The quick brown fox jumps over the lazy dog. '.repeat(200);
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const leftovers = (dir: string) => (fs.existsSync(uploadsDir(dir)) ? fs.readdirSync(uploadsDir(dir)) : []);

describe('receiveUpload', () => {
  let dir: string;
  beforeAll(() => (dir = makeTempDir('scalar-upload-')));
  afterAll(() => removeDir(dir));

  it('keeps a readable corpus under uploads/ with its sha256 and size', async () => {
    const r = await receiveUpload(
      dir,
      'corpus',
      '../../my notes.txt',
      Readable.from([Buffer.from(TEXT)]),
      null,
    );
    expect(r.bytes).toBe(Buffer.byteLength(TEXT));
    expect(r.sha256).toBe(sha(TEXT));
    expect(r.name).toBe('my_notes.txt'); // the path part is dropped, odd characters replaced
    expect(path.dirname(r.path)).toBe(uploadsDir(dir));
    expect(fs.readFileSync(r.path, 'utf8')).toBe(TEXT);
  });

  it('refuses binary, empty and oversized corpora and non-zip bundles, leaving nothing behind', async () => {
    const before = leftovers(dir);
    const binary = Buffer.alloc(4096, 0);
    await expect(receiveUpload(dir, 'corpus', 'x.bin', Readable.from([binary]), null)).rejects.toThrow(
      /'x.bin' cannot be used as a corpus: .*binary/i,
    );
    await expect(receiveUpload(dir, 'corpus', 'e.txt', Readable.from([]), null)).rejects.toThrow(/is empty/);
    await expect(
      receiveUpload(dir, 'corpus', 'big.txt', Readable.from([Buffer.from('a')]), UPLOAD_LIMITS.corpus + 1),
    ).rejects.toMatchObject({ status: 413, message: expect.stringMatching(/limited to 64 MiB/) });
    // Past the limit while streaming (no declared length): refused mid-stream.
    const chunk = Buffer.alloc(8 * 1024 * 1024, 97);
    const many = Readable.from(
      (function* () {
        for (let i = 0; i < 9; i++) yield chunk;
      })(),
    );
    await expect(receiveUpload(dir, 'corpus', 'big.txt', many, null)).rejects.toMatchObject({ status: 413 });
    await expect(
      receiveUpload(dir, 'bundle', 'b.zip', Readable.from([Buffer.from('not a zip')]), null),
    ).rejects.toThrow(/'b.zip' is not a zip file/);
    expect(leftovers(dir)).toEqual(before);
  });
});

describe('downloads and the upload route of the web server', () => {
  let dir: string;
  let service: ScalarService;
  let server: WebServer;
  let rendererDir: string;

  beforeAll(async () => {
    dir = makeTempDir('scalar-files-');
    rendererDir = makeTempDir('scalar-files-renderer-');
    fs.writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html><title>app</title>');
    service = new ScalarService({ dataDir: dir, mode: 'cli' });
    server = await startWebServer({ api: service, files: service, rendererDir });
  });
  afterAll(async () => {
    await server.close();
    await service.close();
    removeDir(dir);
    removeDir(rendererDir);
  });

  function request(
    method: string,
    target: string,
    headers: Record<string, string> = {},
    body?: Buffer,
  ): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: server.port,
          path: target,
          method,
          headers: { host: `127.0.0.1:${server.port}`, ...headers },
        },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
  const cookie = () => `scalar_token_${server.port}=${server.token}`;
  const origin = () => `http://127.0.0.1:${server.port}`;

  it('serves a registered artifact by run and id, and nothing else', async () => {
    const run = service.store.createRun({ kind: 'lm' });
    const file = service.store.artifactPath(run.id, 'model.safetensors');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, 'weights');
    const art = await service.store.registerArtifact({
      runId: run.id,
      kind: 'best',
      name: 'model.safetensors',
    });
    const ok = await request('GET', `/files/runs/${run.id}/${art.id}`, { cookie: cookie() });
    expect(ok).toEqual({ status: 200, body: 'weights' });
    expect((await request('GET', `/files/runs/${run.id}/${art.id}`)).status).toBe(401);
    expect(
      (await request('GET', `/files/runs/lm-20990101-000000-zzzz/${art.id}`, { cookie: cookie() })).status,
    ).toBe(404);
    expect(resolveDownload(service.store, '/files/exports/..%2Fscalar.db')).toBeNull();
    expect(resolveDownload(service.store, '/files/exports/../scalar.db')).toBeNull();
    expect(resolveDownload(service.store, '/files/runs/x/../../scalar.db')).toBeNull();
  });

  it('accepts an upload with the session cookie from its own origin only', async () => {
    const body = Buffer.from(TEXT);
    const headers = { 'x-file-name': 'corpus.txt', 'content-type': 'application/octet-stream' };
    expect((await request('POST', '/upload?kind=corpus', headers, body)).status).toBe(401);
    const foreign = await request(
      'POST',
      '/upload?kind=corpus',
      { ...headers, cookie: cookie(), origin: 'http://evil.example' },
      body,
    );
    expect(foreign.status).toBe(403);
    const bad = await request(
      'POST',
      '/upload?kind=weights',
      { ...headers, cookie: cookie(), origin: origin() },
      body,
    );
    expect(JSON.parse(bad.body)).toEqual({
      error: "unknown upload kind 'weights'; expected corpus or bundle",
    });
    const ok = await request(
      'POST',
      '/upload?kind=corpus',
      { ...headers, cookie: cookie(), origin: origin() },
      body,
    );
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ name: 'corpus.txt', bytes: body.length, sha256: sha(body) });
    const binary = await request(
      'POST',
      '/upload?kind=corpus',
      { ...headers, cookie: cookie(), origin: origin() },
      Buffer.alloc(2048),
    );
    expect(binary.status).toBe(422);
    expect(JSON.parse(binary.body).error).toMatch(/cannot be used as a corpus/);
  });
});
