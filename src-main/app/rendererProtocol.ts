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

/**
 * `download` resolves `/files/…` (a run's artifacts, exported bundles) as web mode's server does, so the
 * renderer's download links work the same in both.
 */
export function serveRendererFrom(
  rendererDir: string,
  download?: (urlPath: string) => { file: string; name: string } | null,
): void {
  protocol.handle(APP_SCHEME, async (request) => {
    const url = new URL(request.url);
    if (url.host !== 'renderer') return new Response('Not Found', { status: 404 });
    if (url.pathname.startsWith('/files/')) {
      const found = download?.(url.pathname);
      if (!found) return new Response('Not Found', { status: 404, headers: RESPONSE_HEADERS });
      return new Response(await fs.readFile(found.file), {
        status: 200,
        headers: {
          ...RESPONSE_HEADERS,
          'Content-Type': 'application/octet-stream',
          'Content-Disposition': `attachment; filename="${found.name.replace(/[^\w.+-]/g, '_')}"`,
        },
      });
    }
    const file = findStaticFile(rendererDir, url.pathname);
    if (!file) return new Response('Not Found', { status: 404, headers: RESPONSE_HEADERS });
    const body = await fs.readFile(file);
    return new Response(body, {
      status: 200,
      headers: { ...RESPONSE_HEADERS, 'Content-Type': contentTypeOf(file) },
    });
  });
}
