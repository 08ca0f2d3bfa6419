/**
 * The Api over Electron IPC: one invoke channel for requests, one push channel for job events. Requests are
 * accepted only from our own renderer frame and go through the same validating dispatcher as the WebSocket.
 */
import { BrowserWindow, ipcMain, type IpcMainInvokeEvent } from 'electron';
import type { Api } from '../../src-shared/api.ts';
import { dispatchWireRequest, eventMessage, type WireResponse } from '../server/wire.ts';
import { API_CALL_CHANNEL, API_EVENT_CHANNEL } from './channels.ts';

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
  const offEvents = api.onEvent((e) => {
    const message = eventMessage(e);
    for (const win of BrowserWindow.getAllWindows()) {
      if (!win.isDestroyed() && isTrustedUrl(win.webContents.getURL()))
        win.webContents.send(API_EVENT_CHANNEL, message);
    }
  });
  return () => {
    ipcMain.removeHandler(API_CALL_CHANNEL);
    offEvents();
  };
}
