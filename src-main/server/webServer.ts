/**
 * Web mode: the built renderer over HTTP plus the Api over a WebSocket, on 127.0.0.1 only. Every request
 * needs the random token of this server instance (from the printed URL, or the cookie the first page load
 * sets for the page's own assets); the WebSocket needs it in its URL. Remote use goes through an SSH tunnel.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Api, UploadResult } from '../../src-shared/api.ts';
import {
  checkUpgrade,
  generateToken,
  hostAllowed,
  originAllowed,
  parseRequestUrl,
  readCookie,
  securityHeaders,
  sessionCookie,
  sessionCookieName,
  tokenMatches,
} from './security.ts';
import { cacheControlFor, contentTypeOf, findStaticFile } from './static.ts';
import { dispatchWireText, eventMessage } from './wire.ts';

/** The only interface the server binds to. */
export const LOOPBACK = '127.0.0.1';
export const API_SOCKET_PATH = '/api';
/** A request is a few hundred bytes; anything near this is not from our renderer. */
const MAX_MESSAGE_BYTES = 1 << 20;

/** Byte transfers beside the Api: uploads (corpus, bundle) and downloads (artifacts, exports). */
export interface FileTransfers {
  upload(
    kind: 'corpus' | 'bundle',
    fileName: string,
    body: import('node:stream').Readable,
    declaredBytes: number | null,
  ): Promise<UploadResult>;
  download(urlPath: string): { file: string; name: string; bytes: number } | null;
}

export interface WebServerOptions {
  api: Api;
  /** Without it, /upload and /files/ answer 404. */
  files?: FileTransfers;
  /** Directory with the built renderer (index.html + assets/). */
  rendererDir: string;
  /** 0 or undefined: a free port. */
  port?: number;
  /** Injected by tests; a fresh random token otherwise. */
  token?: string;
}

export interface WebServer {
  /** The address actually bound (always 127.0.0.1). */
  readonly address: string;
  readonly port: number;
  readonly token: string;
  /** The page URL with the token: what the user opens. */
  readonly url: string;
  close(): Promise<void>;
}

export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  if (!fs.existsSync(path.join(options.rendererDir, 'index.html'))) {
    throw new Error(
      `no built renderer in ${options.rendererDir} (run 'npm run build' or 'scalar serve' without --no-build)`,
    );
  }
  const token = options.token ?? generateToken();
  let port = 0;
  const server = http.createServer((req, res) =>
    handleHttp(req, res, { port, token, rendererDir: options.rendererDir, files: options.files }),
  );
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const verdict = checkUpgrade(req, { port, token, path: API_SOCKET_PATH });
    if (!verdict.ok) {
      socket.end(
        `HTTP/1.1 ${verdict.status} ${verdict.reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  wss.on('connection', (ws: WebSocket) => serveApiSocket(ws, options.api));
  // Job events go to every connected page.
  const offEvents = options.api.onEvent((event) => {
    const frame = JSON.stringify(eventMessage(event));
    for (const client of wss.clients) if (client.readyState === client.OPEN) client.send(frame);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, LOOPBACK, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: NodeJS.ErrnoException) => {
    offEvents();
    if (err.code === 'EADDRINUSE')
      throw new Error(`port ${options.port} on ${LOOPBACK} is already in use; choose another with --port`);
    throw err;
  });
  const bound = server.address() as AddressInfo;
  port = bound.port;

  return {
    address: bound.address,
    port,
    token,
    url: `http://${LOOPBACK}:${port}/?token=${token}`,
    close: async () => {
      offEvents();
      for (const client of wss.clients) client.close(1001, 'server shutting down');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function serveApiSocket(ws: WebSocket, api: Api): void {
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      ws.close(1003, 'text frames only');
      return;
    }
    void dispatchWireText(api, data.toString()).then((response) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(response));
    });
  });
  ws.on('error', () => ws.terminate());
}

interface HttpContext {
  port: number;
  token: string;
  rendererDir: string;
  files?: FileTransfers;
}

function handleHttp(req: http.IncomingMessage, res: http.ServerResponse, ctx: HttpContext): void {
  for (const [name, value] of Object.entries(securityHeaders(ctx.port))) res.setHeader(name, value);
  if (!hostAllowed(req.headers.host, ctx.port)) return sendText(res, 403, 'Forbidden: unknown Host header.');
  const url = parseRequestUrl(req.url);
  if (!url) return sendText(res, 400, 'Bad Request');
  if (req.method === 'POST' && url.pathname === '/upload') return void handleUpload(req, res, url, ctx);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return sendText(res, 405, 'Method Not Allowed');
  }
  const queryToken = url.searchParams.get('token');
  const authorised =
    tokenMatches(queryToken, ctx.token) ||
    tokenMatches(readCookie(req.headers.cookie, sessionCookieName(ctx.port)), ctx.token);
  if (!authorised) return sendUnauthorised(res);
  const hasToken = tokenMatches(queryToken, ctx.token);
  if (hasToken) res.setHeader('Set-Cookie', sessionCookie(ctx.port, ctx.token));

  // The raw path (before the query) goes to the guard: it does its own decoding and refuses `..`.
  const rawPath = req.url!.split('?')[0]!;
  // The page reads the WebSocket token from its own URL. A page opened by cookie alone (a bookmark without the
  // token, an old token) could load but never connect, so send it to the URL that carries the token.
  if (!hasToken && (rawPath === '/' || rawPath === '/index.html')) {
    res.statusCode = 302;
    res.setHeader('Location', `/?token=${ctx.token}`);
    res.setHeader('Cache-Control', 'no-store');
    return void res.end();
  }
  if (rawPath.startsWith('/files/')) return sendDownload(req, res, rawPath, ctx);
  const file = findStaticFile(ctx.rendererDir, rawPath);
  if (!file) return sendText(res, 404, 'Not Found');
  res.statusCode = 200;
  res.setHeader('Content-Type', contentTypeOf(file));
  res.setHeader('Cache-Control', cacheControlFor(rawPath));
  res.setHeader('Content-Length', fs.statSync(file).size);
  if (req.method === 'HEAD') return void res.end();
  fs.createReadStream(file)
    .on('error', () => res.destroy())
    .pipe(res);
}

/**
 * POST /upload?kind=corpus|bundle with the file as the body and its name in X-File-Name. Needs the session
 * cookie and our own Origin (a page on another site cannot post here); answers UploadResult or {error}.
 */
async function handleUpload(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
  ctx: HttpContext,
): Promise<void> {
  const reply = (status: number, body: unknown) => {
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    // Stop reading a refused body; the client sees the answer and the connection closes.
    if (status >= 400) res.setHeader('Connection', 'close');
    res.end(JSON.stringify(body));
  };
  if (!tokenMatches(readCookie(req.headers.cookie, sessionCookieName(ctx.port)), ctx.token))
    return reply(401, { error: 'not authorised: open the page from the link the server printed' });
  if (!originAllowed(req.headers.origin, ctx.port))
    return reply(403, { error: 'uploads are accepted from the workstation page only' });
  if (!ctx.files) return reply(404, { error: 'uploads are not available on this server' });
  const kind = url.searchParams.get('kind');
  if (kind !== 'corpus' && kind !== 'bundle')
    return reply(400, { error: `unknown upload kind '${kind ?? ''}'; expected corpus or bundle` });
  const rawName = req.headers['x-file-name'];
  let fileName = typeof rawName === 'string' ? rawName : '';
  try {
    fileName = decodeURIComponent(fileName);
  } catch {
    /* keep it as sent */
  }
  const length = Number(req.headers['content-length']);
  try {
    const result = await ctx.files.upload(kind, fileName, req, Number.isFinite(length) ? length : null);
    reply(200, result);
  } catch (err) {
    const status = (err as { status?: number }).status ?? 400;
    reply(status, { error: (err as Error).message });
  }
}

function sendDownload(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  rawPath: string,
  ctx: HttpContext,
): void {
  const found = ctx.files?.download(rawPath);
  if (!found) return sendText(res, 404, 'Not Found: no such file (deleted, or never exported).');
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/octet-stream');
  res.setHeader('Content-Disposition', `attachment; filename="${found.name.replace(/[^\w.+-]/g, '_')}"`);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', found.bytes);
  if (req.method === 'HEAD') return void res.end();
  fs.createReadStream(found.file)
    .on('error', () => res.destroy())
    .pipe(res);
}

function sendText(res: http.ServerResponse, status: number, text: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(`${text}\n`);
}

const UNAUTHORISED_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SCALAR Workstation: access token needed</title></head>
<body><h1>Access token needed</h1>
<p>This SCALAR Workstation server only answers the link it printed when it started,
<code>http://127.0.0.1:PORT/?token=&hellip;</code>. Copy the whole link from the terminal.</p></body></html>
`;

function sendUnauthorised(res: http.ServerResponse): void {
  res.statusCode = 401;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(UNAUTHORISED_PAGE);
}
