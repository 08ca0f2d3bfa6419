/** IPC channel names shared by the main process and the preload script. */
export const API_CALL_CHANNEL = 'scalar:api-call';
export const API_EVENT_CHANNEL = 'scalar:api-event';
/** The native open-file dialog (corpus, bundle): the renderer gets a path, never the file system. */
export const PICK_FILE_CHANNEL = 'scalar:pick-file';
