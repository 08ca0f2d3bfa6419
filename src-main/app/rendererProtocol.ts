/**
 * The built renderer is loaded from `app://renderer/` rather than file:// so that it has a real origin, the
 * CSP arrives as a response header, and only files inside out/renderer can ever be read (the same path guard
 * as web mode).
 */
import fs from 'node:fs/promises';
import { protocol } from 'electron';
import { contentTypeOf, findStaticFile } from '../server/static.ts';
import { APP_SCHEME, rendererCsp } from './windowPolicy.ts';

/** Must run before the app is ready. */
export function registerAppScheme(): void {
  protocol.registerSchemesAsPrivileged([
    {
      scheme: APP_SCHEME,
      privileges: { standard: true, secure: true, supportFetchAPI: true, corsEnabled: true },
    },
  ]);
}

const RESPONSE_HEADERS = {
  'Content-Security-Policy': rendererCsp(),
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
};

export function serveRendererFrom(rendererDir: string): void {
  protocol.handle(APP_SCHEME, async (request) => {
    const url = new URL(request.url);
    if (url.host !== 'renderer') return new Response('Not Found', { status: 404 });
    const file = findStaticFile(rendererDir, url.pathname);
    if (!file) return new Response('Not Found', { status: 404, headers: RESPONSE_HEADERS });
    const body = await fs.readFile(file);
    return new Response(body, {
      status: 200,
      headers: { ...RESPONSE_HEADERS, 'Content-Type': contentTypeOf(file) },
    });
  });
}
