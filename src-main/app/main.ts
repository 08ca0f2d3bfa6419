/**
 * Electron main process: one ScalarService (store + job queue) for the app's lifetime, exposed to the
 * renderer only through the validated IPC bridge. Options: --data-dir D, --backend B (as for the CLI).
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { app, BrowserWindow } from 'electron';
import { ScalarService } from '../api/service.ts';
import { prepareDataDir } from '../store/index.ts';
import { denyAllPermissions, hardenWebContents } from './hardening.ts';
import { registerApiIpc } from './ipc.ts';
import { EXAMPLE_ROUTE, installMenu } from './menu.ts';
import { registerAppScheme, serveRendererFrom } from './rendererProtocol.ts';
import { applyDevServerCsp, createMainWindow } from './window.ts';
import { APP_ORIGIN, navigationPolicy, rendererOrigin } from './windowPolicy.ts';

// Set by `electron-vite dev`: the renderer comes from Vite's dev server with hot reload.
const devServerUrl = app.isPackaged ? undefined : process.env.ELECTRON_RENDERER_URL;
const origin = rendererOrigin(devServerUrl);
const isTrustedUrl = (url: string) => navigationPolicy(url, origin) === 'allow';

const { values: flags } = parseArgs({
  args: process.argv.slice(1),
  options: { 'data-dir': { type: 'string' }, backend: { type: 'string' } },
  strict: false,
  allowPositionals: true,
});

// Two processes on one database would each mark the other's running jobs as interrupted.
if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.enableSandbox();
  registerAppScheme();
  hardenWebContents(isTrustedUrl);
  void app.whenReady().then(start);
}

let service: ScalarService | undefined;
let window: BrowserWindow | undefined;

async function start(): Promise<void> {
  const layout = prepareDataDir({
    dataDir: typeof flags['data-dir'] === 'string' ? flags['data-dir'] : undefined,
  });
  service = new ScalarService({
    dataDir: layout.root,
    mode: 'electron',
    backend: typeof flags.backend === 'string' ? flags.backend : undefined,
  });
  const disposeIpc = registerApiIpc(service, isTrustedUrl);
  denyAllPermissions();
  installMenu({
    devTools: !app.isPackaged,
    // A hash change inside the app's own page (no navigation, no bridge): the page offers the import.
    onOpenExample: () => {
      if (!window || window.isDestroyed()) return openWindow(EXAMPLE_ROUTE);
      void window.webContents.executeJavaScript(`location.hash = ${JSON.stringify(EXAMPLE_ROUTE)}`);
      window.focus();
    },
  });
  if (devServerUrl) applyDevServerCsp(devServerUrl);
  else
    serveRendererFrom(fileURLToPath(new URL('../renderer/', import.meta.url)), (urlPath) =>
      service!.download(urlPath),
    );
  const openWindow = (hash = '') => {
    window = createMainWindow({
      preloadPath: fileURLToPath(new URL('../preload/index.cjs', import.meta.url)),
      url: (devServerUrl ?? `${APP_ORIGIN}/index.html`) + hash,
    });
  };
  openWindow();

  app.on('second-instance', () => {
    if (window?.isMinimized()) window.restore();
    window?.focus();
  });
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) openWindow();
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });

  // Stop running jobs cleanly (their state is saved, so they can be resumed) before the process exits.
  let closing = false;
  app.on('before-quit', (event) => {
    if (closing || !service) return;
    closing = true;
    event.preventDefault();
    disposeIpc();
    void service.close().finally(() => app.exit(0));
  });
}
