/**
 * The application menu: the standard roles (so copy/paste and quit shortcuts work) plus File → Open Example
 * Project…, which shows the example project's page (#/example) where the user chooses to import it.
 */
import { Menu, type MenuItemConstructorOptions } from 'electron';

/** The hash the renderer shows for the example project (src-renderer/lib/routes.ts). */
export const EXAMPLE_ROUTE = '#/example';

export interface MenuOptions {
  devTools: boolean;
  /** File → Open Example Project…: show the example project's page in the window. */
  onOpenExample: () => void;
  platform?: NodeJS.Platform;
}

/** The menu as data (tested without Electron). */
export function menuTemplate(opts: MenuOptions): MenuItemConstructorOptions[] {
  const mac = (opts.platform ?? process.platform) === 'darwin';
  const view: MenuItemConstructorOptions[] = [
    { role: 'reload' },
    ...(opts.devTools ? [{ role: 'toggleDevTools' } as const] : []),
    { type: 'separator' },
    { role: 'resetZoom' },
    { role: 'zoomIn' },
    { role: 'zoomOut' },
    { type: 'separator' },
    { role: 'togglefullscreen' },
  ];
  const file: MenuItemConstructorOptions[] = [
    { label: 'Open Example Project…', id: 'open-example', click: () => opts.onOpenExample() },
    { type: 'separator' },
    mac ? { role: 'close' } : { role: 'quit' },
  ];
  return [
    ...(mac ? [{ role: 'appMenu' } as const] : []),
    { label: 'File', submenu: file },
    { role: 'editMenu' },
    { label: 'View', submenu: view },
    { role: 'windowMenu' },
  ];
}

export function installMenu(opts: MenuOptions): void {
  Menu.setApplicationMenu(Menu.buildFromTemplate(menuTemplate(opts)));
}
