/**
 * The preload bridge: the renderer's only door to the main process. It exposes exactly `window.scalar =
 * { call, onEvent, pickFile }` (the shared Api shape and the native file dialog) and nothing of Electron itself; the main side validates every
 * message with the shared schemas, and the renderer's client validates every result and event.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import type { Api, ApiMethod, ApiParams, ApiResult, WireMessage } from '../../src-shared/api.ts';
import type { JobEvent } from '../../src-shared/jobs.ts';
import { API_CALL_CHANNEL, API_EVENT_CHANNEL, PICK_FILE_CHANNEL } from './channels.ts';

let nextRequestId = 1;

const bridge: Api = {
  async call<M extends ApiMethod>(method: M, params: ApiParams<M>): Promise<ApiResult<M>> {
    const request: WireMessage = { type: 'request', id: nextRequestId++, method, params };
    const response = (await ipcRenderer.invoke(API_CALL_CHANNEL, request)) as WireMessage | undefined;
    if (response?.type !== 'response') throw new Error(`no response to ${method}`);
    if (!response.ok) throw new Error(response.error ?? `${method} failed`);
    return response.result as ApiResult<M>;
  },
  onEvent(listener: (event: JobEvent) => void): () => void {
    // The IpcRendererEvent (with its sender) never reaches the page; only the event payload does.
    const forward = (_e: IpcRendererEvent, message: WireMessage) => {
      if (message?.type === 'event') listener(message.event);
    };
    ipcRenderer.on(API_EVENT_CHANNEL, forward);
    return () => void ipcRenderer.off(API_EVENT_CHANNEL, forward);
  },
};

/**
 * Opens the native file dialog (`folder`: a folder dialog); resolves to the chosen path or null. Only the kind
 * crosses the bridge.
 */
function pickFile(options: { kind: 'corpus' | 'bundle' | 'folder' }): Promise<string | null> {
  const kind = options?.kind === 'bundle' || options?.kind === 'folder' ? options.kind : 'corpus';
  return ipcRenderer.invoke(PICK_FILE_CHANNEL, kind) as Promise<string | null>;
}

contextBridge.exposeInMainWorld('scalar', { ...bridge, pickFile });
