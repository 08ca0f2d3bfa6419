/**
 * Security rules of the web-mode server, as pure functions so they can be unit-tested without sockets:
 * the access token, the Host/Origin checks against DNS rebinding and cross-site WebSocket hijacking, and the
 * response headers (the same Content-Security-Policy the Electron window gets, plus the WebSocket origin).
 */
import crypto from 'node:crypto';

/** 32 random bytes, URL-safe: the secret in the printed URL. */
export function generateToken(): string {
  return crypto.randomBytes(32).toString('base64url');
}

/**
 * Constant-time comparison. Both sides are hashed first so that neither the content nor the length of the
 * expected token leaks through timing (timingSafeEqual itself needs equal-length inputs).
 */
export function tokenMatches(candidate: string | null | undefined, expected: string): boolean {
  if (typeof candidate !== 'string' || candidate.length === 0 || expected.length === 0) return false;
  const a = crypto.createHash('sha256').update(candidate).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

/** The loopback names the server answers to; it only ever listens on 127.0.0.1. */
const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost'];

/**
 * A request's Host header must name this server (127.0.0.1 or localhost with our port). A DNS-rebinding page
 * reaches 127.0.0.1 under its own host name, so its requests carry a foreign Host and are refused here.
 */
export function hostAllowed(host: string | undefined, port: number): boolean {
  if (!host) return false;
  const h = host.trim().toLowerCase();
  return LOOPBACK_HOSTS.some((name) => h === `${name}:${port}`);
}

/** The page origins this server serves; the only ones allowed to open the WebSocket. */
export function ownOrigins(port: number): string[] {
  return LOOPBACK_HOSTS.map((name) => `http://${name}:${port}`);
}

/**
 * Browsers always send Origin on a WebSocket handshake, so a foreign Origin is a cross-site page trying to
 * use the user's server: refused. A missing Origin means a non-browser client (a script), which cannot be
 * driven by a web page; it still needs the token.
 */
export function originAllowed(origin: string | undefined, port: number): boolean {
  if (origin === undefined) return true;
  return ownOrigins(port).includes(origin.trim().toLowerCase());
}

export type UpgradeVerdict = { ok: true } | { ok: false; status: 400 | 401 | 403 | 404; reason: string };

/** Decides a WebSocket upgrade request: right path, own Host, own Origin (or none), right token. */
export function checkUpgrade(
  req: { url?: string; headers: { host?: string; origin?: string } },
  opts: { port: number; token: string; path: string },
): UpgradeVerdict {
  const url = parseRequestUrl(req.url);
  if (!url) return { ok: false, status: 400, reason: 'Bad Request' };
  if (url.pathname !== opts.path) return { ok: false, status: 404, reason: 'Not Found' };
  if (!hostAllowed(req.headers.host, opts.port)) return { ok: false, status: 403, reason: 'Forbidden' };
  if (!originAllowed(req.headers.origin, opts.port)) return { ok: false, status: 403, reason: 'Forbidden' };
  if (!tokenMatches(url.searchParams.get('token'), opts.token))
    return { ok: false, status: 401, reason: 'Unauthorized' };
  return { ok: true };
}

/** Parses the request target against a fixed base; null for targets that are not a path (e.g. `//evil`). */
export function parseRequestUrl(target: string | undefined): URL | null {
  if (!target || !target.startsWith('/') || target.startsWith('//')) return null;
  try {
    return new URL(target, 'http://127.0.0.1');
  } catch {
    return null;
  }
}

/**
 * Cookies are not port-scoped, so the name carries the port: two servers on one machine do not clobber each
 * other's session. The cookie lets the page's own asset requests (scripts, styles) pass the token check.
 */
export function sessionCookieName(port: number): string {
  return `scalar_token_${port}`;
}

export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

export function sessionCookie(port: number, token: string): string {
  return `${sessionCookieName(port)}=${token}; HttpOnly; SameSite=Strict; Path=/`;
}

/**
 * The renderer's Content-Security-Policy: only the app's own scripts and styles (no inline code, no eval),
 * no plugins, no framing, no form posts; `connect` lists what the page may talk to (in web mode: our own
 * WebSocket; in Electron nothing, IPC needs no network).
 */
export function contentSecurityPolicy(connect: string[] = []): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    `connect-src ${["'self'", ...connect].join(' ')}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The WebSocket origins the web-mode page may connect to: its own server only. */
export function webSocketOrigins(port: number): string[] {
  return LOOPBACK_HOSTS.map((name) => `ws://${name}:${port}`);
}

/** Headers sent with every response of the web-mode server. */
export function securityHeaders(port: number): Record<string, string> {
  return {
    'Content-Security-Policy': contentSecurityPolicy(webSocketOrigins(port)),
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    // The token travels in the page URL; never hand it to another site in a Referer.
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), usb=(), serial=(), hid=()',
  };
}
