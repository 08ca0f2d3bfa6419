/** The main window, with the renderer locked down: isolated, sandboxed, no Node, web security on. */
import { BrowserWindow, session } from 'electron';
import { devServerCsp, mainWindowOptions } from './windowPolicy.ts';

export interface WindowOptions {
  preloadPath: string;
  /** app://renderer/index.html, or the electron-vite dev server in development. */
  url: string;
}

export function createMainWindow(opts: WindowOptions): BrowserWindow {
  const win = new BrowserWindow(mainWindowOptions(opts.preloadPath));
  win.once('ready-to-show', () => win.show());
  void win.loadURL(opts.url);
  return win;
}

/** The dev server's pages carry no CSP of ours; add one (windowPolicy.ts's devServerCsp). */
export function applyDevServerCsp(devServerUrl: string): void {
  const policy = devServerCsp(devServerUrl);
  session.defaultSession.webRequest.onHeadersReceived(
    { urls: [`${new URL(devServerUrl).origin}/*`] },
    (details, callback) => {
      callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [policy] } });
    },
  );
}
