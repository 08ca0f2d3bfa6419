/** The application menu as data: File → Open Example Project… calls back (the window then shows #/example). */
import { describe, expect, it, vi } from 'vitest';

vi.mock('electron', () => ({ Menu: { setApplicationMenu: () => {}, buildFromTemplate: (t: unknown) => t } }));
const { EXAMPLE_ROUTE, menuTemplate } = await import('../../src-main/app/menu.ts');

describe('menuTemplate', () => {
  for (const platform of ['linux', 'darwin', 'win32'] as const) {
    it(`has File → Open Example Project… on ${platform}, and keeps the standard roles`, () => {
      const onOpenExample = vi.fn();
      const template = menuTemplate({ devTools: false, onOpenExample, platform });
      const file = template.find((m) => m.label === 'File')!;
      const items = file.submenu as { id?: string; label?: string; role?: string; click?: () => void }[];
      const open = items.find((i) => i.id === 'open-example')!;
      expect(open.label).toBe('Open Example Project…');
      open.click!();
      expect(onOpenExample).toHaveBeenCalledTimes(1);
      expect(items.at(-1)!.role).toBe(platform === 'darwin' ? 'close' : 'quit');
      expect(template.map((m) => m.role ?? m.label)).toEqual([
        ...(platform === 'darwin' ? ['appMenu'] : []),
        'File',
        'editMenu',
        'View',
        'windowMenu',
      ]);
    });
  }
  it('points at the example page the renderer routes', async () => {
    const { parseHash } = await import('../../src-renderer/lib/routes.ts');
    expect(parseHash(EXAMPLE_ROUTE).view).toBe('example');
  });
});
