/**
 * The Electron shell's security settings as plain data and functions (no runtime import of 'electron', so they
 * can be unit-tested without the Electron binary): the main window's options, which URLs the renderer may
 * navigate to, what window.open gets, permission requests, and the Content-Security-Policy of the renderer.
 * window.ts, hardening.ts and rendererProtocol.ts apply them.
 */
import type { BrowserWindowConstructorOptions } from 'electron';
import { contentSecurityPolicy } from '../server/security.ts';

export const APP_SCHEME = 'app';
/** The built renderer is served from this origin (see rendererProtocol.ts). */
export const APP_ORIGIN = `${APP_SCHEME}://renderer`;

/** The renderer is isolated, sandboxed and without Node; web security stays on; no <webview>. */
export function mainWindowOptions(preloadPath: string): BrowserWindowConstructorOptions {
  return {
    width: 1280,
    height: 820,
    minWidth: 800,
    minHeight: 500,
    title: 'SCALAR Workstation',
    show: false,
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      sandbox: true,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
    },
  };
}

/**
 * `scheme://host[:port]` of a URL. Not `URL.origin`: Node's URL (which the main process uses) does not know that
 * Electron registered `app:` as a standard scheme, and gives every app:// URL the opaque origin "null".
 */
function originOf(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}

/** The origin the renderer is loaded from: app://renderer, or the electron-vite dev server in development. */
export function rendererOrigin(devServerUrl?: string): string {
  return devServerUrl ? originOf(devServerUrl) : APP_ORIGIN;
}

export type Verdict = 'allow' | 'deny';

/**
 * Navigation (and redirects, and IPC senders: main.ts's isTrustedUrl) stay on the renderer's own origin;
 * anything else, or anything unparsable, is denied.
 */
export function navigationPolicy(url: string, origin: string = APP_ORIGIN): Verdict {
  try {
    return originOf(url) === origin ? 'allow' : 'deny';
  } catch {
    return 'deny';
  }
}

/** window.open and target=_blank links: never a new window. */
export function windowOpenPolicy(): { action: 'deny' } {
  return { action: 'deny' };
}

/** Camera, notifications, geolocation, ...: the renderer needs none of them, so every request is refused. */
export function permissionPolicy(): boolean {
  return false;
}

/** The CSP the app:// handler sends with the built renderer (IPC needs no network: connect-src stays 'self'). */
export function rendererCsp(): string {
  return contentSecurityPolicy();
}

/**
 * The CSP added to the dev server's pages. It must allow Vite's injected <style> tags (HMR) and its HMR
 * WebSocket, so it is looser than the production policy, for styles and connections only; scripts stay 'self'.
 */
export function devServerCsp(devServerUrl: string): string {
  const hmr = `ws://${new URL(devServerUrl).host}`;
  return contentSecurityPolicy([hmr]).replace("style-src 'self'", "style-src 'self' 'unsafe-inline'");
}
