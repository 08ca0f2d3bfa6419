/**
 * Static files of the built renderer. The path guard is the only thing between a request path and the file
 * system, so it is strict: it works on the raw (percent-decoded) path, refuses every `..`, dot-file, backslash
 * and NUL segment, and checks the resolved real path is still inside the root (no escape through symlinks).
 */
import fs from 'node:fs';
import path from 'node:path';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * Maps a request path (`/assets/x.js`, `/`) to a file path under `root`, or null when the path is not one the
 * server will ever serve. Pure: does not touch the file system.
 */
export function resolveStaticPath(root: string, requestPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(requestPath);
  } catch {
    return null;
  }
  if (!decoded.startsWith('/') || decoded.includes('\0') || decoded.includes('\\')) return null;
  const relative = decoded === '/' ? 'index.html' : decoded.slice(1);
  const segments = relative.split('/');
  // An empty segment (`//`, trailing `/`) or one starting with a dot (`..`, `.env`) is never a renderer file.
  if (segments.some((s) => s === '' || s.startsWith('.'))) return null;
  const base = path.resolve(root);
  const full = path.resolve(base, ...segments);
  return isInside(base, full) ? full : null;
}

function isInside(base: string, candidate: string): boolean {
  return candidate.startsWith(base + path.sep);
}

/**
 * The file to serve for a request path: a regular file whose real path lies inside the real root, or null.
 */
export function findStaticFile(root: string, requestPath: string): string | null {
  const candidate = resolveStaticPath(root, requestPath);
  if (!candidate) return null;
  try {
    const real = fs.realpathSync(candidate);
    if (!isInside(fs.realpathSync(root), real)) return null;
    return fs.statSync(real).isFile() ? real : null;
  } catch {
    return null;
  }
}

/** Hashed bundle files never change under a name; everything else (index.html) must be fetched fresh. */
export function cacheControlFor(requestPath: string): string {
  return requestPath.startsWith('/assets/') ? 'private, max-age=31536000, immutable' : 'no-store';
}
