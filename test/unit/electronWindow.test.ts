/**
 * The Electron shell's security settings, tested without the Electron binary: the window options and policies
 * are plain data and functions (windowPolicy.ts), and window.ts / hardening.ts are checked to apply them
 * against a stand-in 'electron' module.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import {
  APP_ORIGIN,
  devServerCsp,
  mainWindowOptions,
  navigationPolicy,
  permissionPolicy,
  rendererCsp,
  rendererOrigin,
  windowOpenPolicy,
} from '../../src-main/app/windowPolicy.ts';

/** What the code under test did to the stand-in electron module. */
const electron = vi.hoisted(() => ({
  windowOptions: [] as unknown[],
  appHandlers: new Map<string, (...args: unknown[]) => void>(),
  permissionRequest: undefined as
    undefined | ((c: unknown, p: string, callback: (granted: boolean) => void) => void),
  permissionCheck: undefined as undefined | ((...args: unknown[]) => boolean),
}));

vi.mock('electron', () => {
  class BrowserWindow {
    constructor(options: unknown) {
      electron.windowOptions.push(options);
    }
    once() {}
    loadURL() {
      return Promise.resolve();
    }
  }
  return {
    BrowserWindow,
    app: { on: (name: string, fn: (...args: unknown[]) => void) => electron.appHandlers.set(name, fn) },
    session: {
      defaultSession: {
        setPermissionRequestHandler: (fn: typeof electron.permissionRequest) =>
          (electron.permissionRequest = fn),
        setPermissionCheckHandler: (fn: typeof electron.permissionCheck) => (electron.permissionCheck = fn),
        webRequest: { onHeadersReceived: () => undefined },
      },
    },
  };
});

/** A web contents stand-in: records its listeners and window-open handler. */
function fakeContents() {
  const listeners = new Map<string, (e: { preventDefault: () => void }, ...args: unknown[]) => void>();
  let openHandler: ((details: { url: string }) => unknown) | undefined;
  return {
    on: (name: string, fn: (e: { preventDefault: () => void }, ...args: unknown[]) => void) =>
      listeners.set(name, fn),
    setWindowOpenHandler: (fn: (details: { url: string }) => unknown) => (openHandler = fn),
    /** Whether the event `name` was prevented. */
    fire(name: string, ...args: unknown[]): boolean {
      let prevented = false;
      listeners.get(name)!({ preventDefault: () => (prevented = true) }, ...args);
      return prevented;
    },
    open: (url: string) => openHandler!({ url }),
  };
}

/** `directive` of a CSP string, as its list of sources. */
function cspDirective(csp: string, directive: string): string[] | undefined {
  const found = csp
    .split(';')
    .map((d) => d.trim().split(/\s+/))
    .find(([name]) => name === directive);
  return found?.slice(1);
}

describe('main window options', () => {
  const prefs = mainWindowOptions('/app/out/preload/index.cjs').webPreferences!;

  it('isolate and sandbox the renderer, without Node and with web security on', () => {
    expect(prefs.contextIsolation).toBe(true);
    expect(prefs.nodeIntegration).toBe(false);
    expect(prefs.nodeIntegrationInWorker).toBe(false);
    expect(prefs.nodeIntegrationInSubFrames).toBe(false);
    expect(prefs.sandbox).toBe(true);
    expect(prefs.webSecurity).toBe(true);
    expect(prefs.allowRunningInsecureContent).toBe(false);
    expect(prefs.webviewTag).toBe(false);
    expect(prefs.preload).toBe('/app/out/preload/index.cjs');
  });

  it('are what createMainWindow gives BrowserWindow', async () => {
    const { createMainWindow } = await import('../../src-main/app/window.ts');
    electron.windowOptions.length = 0;
    createMainWindow({ preloadPath: '/p/index.cjs', url: `${APP_ORIGIN}/index.html` });
    expect(electron.windowOptions).toEqual([mainWindowOptions('/p/index.cjs')]);
  });
});

describe('navigation policy', () => {
  it('allows the app origin only', () => {
    expect(navigationPolicy(`${APP_ORIGIN}/index.html`)).toBe('allow');
    expect(navigationPolicy(`${APP_ORIGIN}/#/runs?x=1`)).toBe('allow');
    for (const url of [
      'https://example.com/',
      'http://127.0.0.1:5173/',
      'file:///etc/passwd',
      'app://other/index.html',
      'app://renderer.evil.example/index.html',
      'app://renderer@evil.example/index.html',
      'app:renderer/index.html',
      'javascript:alert(1)',
      'data:text/html,<h1>x</h1>',
      'about:blank',
      'not a url',
      '',
    ])
      expect(navigationPolicy(url), url).toBe('deny');
  });

  it('in development trusts the dev server origin and nothing else', () => {
    const origin = rendererOrigin('http://localhost:5173/');
    expect(origin).toBe('http://localhost:5173');
    expect(navigationPolicy('http://localhost:5173/index.html', origin)).toBe('allow');
    expect(navigationPolicy('http://localhost:5174/', origin)).toBe('deny');
    expect(navigationPolicy(`${APP_ORIGIN}/index.html`, origin)).toBe('deny');
    expect(rendererOrigin(undefined)).toBe(APP_ORIGIN);
  });

  it('denies every new window and every permission', () => {
    expect(windowOpenPolicy()).toEqual({ action: 'deny' });
    expect(permissionPolicy()).toBe(false);
  });
});

describe('hardenWebContents and denyAllPermissions', () => {
  beforeEach(() => electron.appHandlers.clear());

  it('block navigation and redirects to other origins, <webview> and window.open on every web contents', async () => {
    const { hardenWebContents } = await import('../../src-main/app/hardening.ts');
    hardenWebContents((url) => navigationPolicy(url) === 'allow');
    const contents = fakeContents();
    electron.appHandlers.get('web-contents-created')!({}, contents);

    expect(contents.fire('will-navigate', `${APP_ORIGIN}/index.html`)).toBe(false);
    expect(contents.fire('will-navigate', 'https://evil.example/')).toBe(true);
    expect(contents.fire('will-redirect', 'https://evil.example/')).toBe(true);
    expect(contents.fire('will-redirect', `${APP_ORIGIN}/index.html`)).toBe(false);
    expect(contents.fire('will-attach-webview')).toBe(true);
    expect(contents.open('https://evil.example/')).toEqual({ action: 'deny' });
    expect(contents.open(`${APP_ORIGIN}/index.html`)).toEqual({ action: 'deny' });
  });

  it('refuse permission requests and checks', async () => {
    const { denyAllPermissions } = await import('../../src-main/app/hardening.ts');
    denyAllPermissions();
    const granted: boolean[] = [];
    electron.permissionRequest!({}, 'media', (g) => granted.push(g));
    electron.permissionRequest!({}, 'notifications', (g) => granted.push(g));
    expect(granted).toEqual([false, false]);
    expect(electron.permissionCheck!({}, 'media')).toBe(false);
  });
});

describe('renderer Content-Security-Policy', () => {
  it('allows only the app’s own scripts: default-src and script-src self, no inline code, no eval', () => {
    const csp = rendererCsp();
    expect(cspDirective(csp, 'default-src')).toEqual(["'self'"]);
    expect(cspDirective(csp, 'script-src')).toEqual(["'self'"]);
    expect(cspDirective(csp, 'object-src')).toEqual(["'none'"]);
    expect(cspDirective(csp, 'frame-ancestors')).toEqual(["'none'"]);
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).not.toContain('unsafe-inline');
  });

  it('in development loosens styles and connections for Vite, never scripts', () => {
    const csp = devServerCsp('http://localhost:5173/');
    expect(cspDirective(csp, 'script-src')).toEqual(["'self'"]);
    expect(cspDirective(csp, 'default-src')).toEqual(["'self'"]);
    expect(cspDirective(csp, 'connect-src')).toContain('ws://localhost:5173');
    expect(csp).not.toContain('unsafe-eval');
  });
});
