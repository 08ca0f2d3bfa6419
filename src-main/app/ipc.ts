/**
 * The Api over Electron IPC: one invoke channel for requests, one push channel for job events. Requests are
 * accepted only from our own renderer frame and go through the same validating dispatcher as the WebSocket.
 */
import { BrowserWindow, dialog, ipcMain, type IpcMainInvokeEvent, type OpenDialogOptions } from 'electron';
import type { Api } from '../../src-shared/api.ts';
import { dispatchWireRequest, eventMessage, type WireResponse } from '../server/wire.ts';
import { API_CALL_CHANNEL, API_EVENT_CHANNEL, PICK_FILE_CHANNEL } from './channels.ts';

/** What the open dialog offers per kind of file (`folder`: a model folder or a text-set folder). */
export const PICK_FILTERS: Record<'corpus' | 'bundle', { name: string; extensions: string[] }[]> = {
  corpus: [{ name: 'Text or JSONL', extensions: ['txt', 'text', 'md', 'jsonl'] }],
  bundle: [{ name: 'Run bundle', extensions: ['zip'] }],
};

/** The dialog for a kind; only these kinds are answered, whatever the renderer sends. */
export function pickDialogOptions(kind: unknown): OpenDialogOptions | null {
  if (kind === 'folder') return { properties: ['openDirectory'] };
  if (kind === 'corpus' || kind === 'bundle')
    return { properties: ['openFile'], filters: PICK_FILTERS[kind] };
  return null;
}

export function registerApiIpc(api: Api, isTrustedUrl: (url: string) => boolean): () => void {
  ipcMain.handle(
    API_CALL_CHANNEL,
    async (event: IpcMainInvokeEvent, message: unknown): Promise<WireResponse> => {
      // A navigated-away or foreign frame (should one ever load) must not drive the Api.
      if (!isTrustedUrl(event.senderFrame?.url ?? '')) {
        return { type: 'response', id: -1, ok: false, error: 'request from an untrusted frame' };
      }
      return dispatchWireRequest(api, message);
    },
  );
  ipcMain.handle(PICK_FILE_CHANNEL, async (event: IpcMainInvokeEvent, kind: unknown) => {
    if (!isTrustedUrl(event.senderFrame?.url ?? '')) return null;
    const options = pickDialogOptions(kind);
    if (!options) return null;
    const win = BrowserWindow.fromWebContents(event.sender);
    const result = win ? await dialog.showOpenDialog(win, options) : await dialog.showOpenDialog(options);
    return result.canceled ? null : (result.filePaths[0] ?? null);
  });
  const offEvents = api.onEvent((e) => {
    const message = eventMessage(e);
    for (const win of BrowserWindow.getAllWindows()) {
      if (!win.isDestroyed() && isTrustedUrl(win.webContents.getURL()))
        win.webContents.send(API_EVENT_CHANNEL, message);
    }
  });
  return () => {
    ipcMain.removeHandler(API_CALL_CHANNEL);
    ipcMain.removeHandler(PICK_FILE_CHANNEL);
    offEvents();
  };
}
