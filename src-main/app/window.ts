/** The main window, with the renderer locked down: isolated, sandboxed, no Node, web security on. */
import { BrowserWindow, session } from 'electron';
import { contentSecurityPolicy } from '../server/security.ts';

export interface WindowOptions {
  preloadPath: string;
  /** app://renderer/index.html, or the electron-vite dev server in development. */
  url: string;
}

export function createMainWindow(opts: WindowOptions): BrowserWindow {
  const win = new BrowserWindow({
    width: 1280,
    height: 820,
    minWidth: 800,
    minHeight: 500,
    title: 'SCALAR Workstation',
    show: false,
    webPreferences: {
      preload: opts.preloadPath,
      contextIsolation: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      sandbox: true,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
    },
  });
  win.once('ready-to-show', () => win.show());
  void win.loadURL(opts.url);
  return win;
}

/**
 * The dev server's pages carry no CSP of ours; add one. It must allow Vite's injected <style> tags (HMR) and
 * its HMR WebSocket, so it is looser than the production policy, which the app:// handler sends.
 */
export function applyDevServerCsp(devServerUrl: string): void {
  const origin = new URL(devServerUrl);
  const hmr = `ws://${origin.host}`;
  const policy = contentSecurityPolicy([hmr]).replace("style-src 'self'", "style-src 'self' 'unsafe-inline'");
  session.defaultSession.webRequest.onHeadersReceived(
    { urls: [`${origin.origin}/*`] },
    (details, callback) => {
      callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [policy] } });
    },
  );
}
