/**
 * The renderer's Api client. Two transports carry the same requests and events: the Electron preload bridge
 * (`window.scalar`, when the page runs in the desktop app) or a WebSocket to the web-mode server (token
 * taken from the page URL). Whatever arrives is validated with the shared schemas before the UI sees it.
 */
import {
  ApiMethods,
  WireMessageSchema,
  type Api,
  type ApiMethod,
  type ApiParams,
  type ApiResult,
} from '../../src-shared/api.ts';
import { JobEventSchema, type JobEvent } from '../../src-shared/jobs.ts';

export type Transport = 'electron' | 'websocket';
export type ConnectionState = 'connecting' | 'open' | 'closed';

export interface ApiClient extends Api {
  readonly transport: Transport;
  readonly connection: ConnectionState;
  /** Called on every connection change; 'open' after a reconnect means data may be stale. */
  onConnection(listener: (state: ConnectionState) => void): () => void;
  close(): void;
}

function parseResult<M extends ApiMethod>(method: M, raw: unknown): ApiResult<M> {
  const parsed = ApiMethods[method].result.safeParse(raw);
  if (!parsed.success)
    throw new Error(`malformed ${method} result: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data as ApiResult<M>;
}

class Listeners<T> {
  private readonly set = new Set<(value: T) => void>();
  add(listener: (value: T) => void): () => void {
    this.set.add(listener);
    return () => void this.set.delete(listener);
  }
  emit(value: T): void {
    for (const listener of this.set) listener(value);
  }
}

/** In the desktop app: IPC through the preload bridge, always connected. */
class BridgeClient implements ApiClient {
  readonly transport = 'electron';
  readonly connection = 'open';

  constructor(private readonly bridge: Api) {}

  async call<M extends ApiMethod>(method: M, params: ApiParams<M>): Promise<ApiResult<M>> {
    return parseResult(method, await this.bridge.call(method, params));
  }

  onEvent(listener: (e: JobEvent) => void): () => void {
    return this.bridge.onEvent((raw) => {
      const parsed = JobEventSchema.safeParse(raw);
      if (parsed.success) listener(parsed.data);
    });
  }

  onConnection(): () => void {
    return () => {};
  }

  close(): void {}
}

interface Pending {
  method: ApiMethod;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

const RECONNECT_DELAYS_MS = [500, 1000, 2000, 5000];

/** In web mode: one WebSocket, requests matched to responses by id, reconnecting when the server returns. */
class SocketClient implements ApiClient {
  readonly transport = 'websocket';
  connection: ConnectionState = 'connecting';
  private socket: WebSocket | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly waitingForOpen: (() => void)[] = [];
  private readonly events = new Listeners<JobEvent>();
  private readonly connectionListeners = new Listeners<ConnectionState>();
  private attempts = 0;
  private closedByUser = false;

  constructor(private readonly url: string) {
    this.connect();
  }

  private connect(): void {
    this.setConnection('connecting');
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = () => {
      this.attempts = 0;
      this.setConnection('open');
      for (const send of this.waitingForOpen.splice(0)) send();
    };
    socket.onmessage = (e) => this.receive(e.data);
    socket.onclose = () => {
      for (const p of this.pending.values()) p.reject(new Error(`connection lost during ${p.method}`));
      this.pending.clear();
      this.setConnection('closed');
      if (this.closedByUser) return;
      const delay = RECONNECT_DELAYS_MS[Math.min(this.attempts++, RECONNECT_DELAYS_MS.length - 1)];
      setTimeout(() => this.connect(), delay);
    };
  }

  private setConnection(state: ConnectionState): void {
    this.connection = state;
    this.connectionListeners.emit(state);
  }

  private receive(data: unknown): void {
    if (typeof data !== 'string') return;
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      return;
    }
    const parsed = WireMessageSchema.safeParse(json);
    if (!parsed.success) return;
    const message = parsed.data;
    if (message.type === 'event') {
      this.events.emit(message.event);
    } else if (message.type === 'response') {
      const p = this.pending.get(message.id);
      if (!p) return;
      this.pending.delete(message.id);
      if (!message.ok) p.reject(new Error(message.error ?? `${p.method} failed`));
      else {
        try {
          p.resolve(parseResult(p.method, message.result));
        } catch (err) {
          p.reject(err as Error);
        }
      }
    }
  }

  call<M extends ApiMethod>(method: M, params: ApiParams<M>): Promise<ApiResult<M>> {
    return new Promise((resolve, reject) => {
      const send = () => {
        const id = this.nextId++;
        this.pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject });
        this.socket!.send(JSON.stringify({ type: 'request', id, method, params }));
      };
      if (this.connection === 'open') send();
      else this.waitingForOpen.push(send);
    });
  }

  onEvent(listener: (e: JobEvent) => void): () => void {
    return this.events.add(listener);
  }

  onConnection(listener: (state: ConnectionState) => void): () => void {
    return this.connectionListeners.add(listener);
  }

  close(): void {
    this.closedByUser = true;
    this.socket?.close();
  }
}

/** The web-mode socket URL: same host as the page, the page's token passed on. */
export function apiSocketUrl(location: Pick<Location, 'protocol' | 'host' | 'search'>): string {
  const token = new URLSearchParams(location.search).get('token') ?? '';
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/api?token=${encodeURIComponent(token)}`;
}

export function createApiClient(win: Window = window): ApiClient {
  return win.scalar ? new BridgeClient(win.scalar) : new SocketClient(apiSocketUrl(win.location));
}
