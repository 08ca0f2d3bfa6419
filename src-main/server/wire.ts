/**
 * One request of the wire format in, one response out: what both transports (the web-mode WebSocket and the
 * Electron IPC handler) do with a message from the renderer. Nothing reaches the Api unless it parses as a
 * request of a known method with valid params; errors come back as messages, never as stack traces.
 */
import { paramsIssuesText } from '../../src-shared/apiIssues.ts';
import { formatIssues } from '../../src-shared/issues.ts';
import {
  ApiMethods,
  WireMessageSchema,
  type Api,
  type ApiMethod,
  type WireMessage,
} from '../../src-shared/api.ts';
import type { JobEvent } from '../../src-shared/jobs.ts';
import { userMessage } from '../userErrors.ts';

export type WireResponse = Extract<WireMessage, { type: 'response' }>;

export function isApiMethod(method: string): method is ApiMethod {
  // Own keys only: `constructor`, `__proto__` and friends are not methods.
  return Object.hasOwn(ApiMethods, method);
}

/** The request id of a message that failed validation, when it has a usable one (else -1). */
function requestIdOf(message: unknown): number {
  const id = (message as { id?: unknown } | null)?.id;
  return typeof id === 'number' && Number.isInteger(id) ? id : -1;
}

export async function dispatchWireRequest(api: Api, message: unknown): Promise<WireResponse> {
  const parsed = WireMessageSchema.safeParse(message);
  if (!parsed.success)
    return failure(
      requestIdOf(message),
      `invalid message: ${formatIssues(parsed.error.issues, { input: message, root: 'the message' })}`,
    );
  const request = parsed.data;
  if (request.type !== 'request') return failure(-1, `expected a request, got a ${request.type}`);
  if (!isApiMethod(request.method)) return failure(request.id, `unknown method '${request.method}'`);
  const params = ApiMethods[request.method].params.safeParse(request.params ?? {});
  if (!params.success)
    return failure(
      request.id,
      `invalid params for ${request.method}: ${paramsIssuesText(request.method, params.error, request.params)}`,
    );
  try {
    const result = await api.call(request.method, params.data as never);
    return { type: 'response', id: request.id, ok: true, result };
  } catch (err) {
    return failure(
      request.id,
      userMessage(err, { bugHint: 'please report it with the steps that led here' }),
    );
  }
}

/** Parses a text frame as JSON first; a frame that is not JSON gets the same kind of error response. */
export async function dispatchWireText(api: Api, text: string): Promise<WireResponse> {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return failure(-1, 'invalid message: not JSON');
  }
  return dispatchWireRequest(api, message);
}

export function eventMessage(event: JobEvent): WireMessage {
  return { type: 'event', event };
}

function failure(id: number, error: string): WireResponse {
  return { type: 'response', id, ok: false, error };
}
