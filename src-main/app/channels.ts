/** IPC channel names shared by the main process and the preload script. */
export const API_CALL_CHANNEL = 'scalar:api-call';
export const API_EVENT_CHANNEL = 'scalar:api-event';
