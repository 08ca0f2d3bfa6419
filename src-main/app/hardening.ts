/**
 * Electron security settings that apply to every web contents: no navigation away from the app, no new
 * windows, no <webview>, no permission grants (camera, notifications, ...). The renderer is a local UI; it
 * never needs any of these, so anything asking for them is a bug or an attack.
 */
import { app, session } from 'electron';

export function hardenWebContents(isTrustedUrl: (url: string) => boolean): void {
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-navigate', (e, url) => {
      if (!isTrustedUrl(url)) e.preventDefault();
    });
    contents.on('will-redirect', (e, url) => {
      if (!isTrustedUrl(url)) e.preventDefault();
    });
    contents.on('will-attach-webview', (e) => e.preventDefault());
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  });
}

export function denyAllPermissions(): void {
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
}
