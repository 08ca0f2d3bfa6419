/**
 * Electron security settings that apply to every web contents: no navigation away from the app, no new
 * windows, no <webview>, no permission grants (camera, notifications, ...). The renderer is a local UI; it
 * never needs any of these, so anything asking for them is a bug or an attack. The decisions themselves are
 * windowPolicy.ts's plain functions.
 */
import { app, session } from 'electron';
import { permissionPolicy, windowOpenPolicy } from './windowPolicy.ts';

export function hardenWebContents(isTrustedUrl: (url: string) => boolean): void {
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-navigate', (e, url) => {
      if (!isTrustedUrl(url)) e.preventDefault();
    });
    contents.on('will-redirect', (e, url) => {
      if (!isTrustedUrl(url)) e.preventDefault();
    });
    contents.on('will-attach-webview', (e) => e.preventDefault());
    contents.setWindowOpenHandler(() => windowOpenPolicy());
  });
}

export function denyAllPermissions(): void {
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) =>
    callback(permissionPolicy()),
  );
  session.defaultSession.setPermissionCheckHandler(() => permissionPolicy());
}
