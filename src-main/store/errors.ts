/**
 * Errors raised by the store. Each carries a stable `code` so the api layer can map them to Api errors
 * without `instanceof` (errors crossing worker_threads or a WebSocket lose their prototype).
 */
export type StoreErrorCode =
  | 'SCHEMA_TOO_NEW'
  | 'MIGRATION_FAILED'
  | 'DB_OPEN_FAILED'
  | 'RUN_NOT_FOUND'
  | 'INVALID_RUN'
  | 'INVALID_TRANSITION'
  | 'RUN_HAS_CHILDREN'
  | 'RUN_ACTIVE'
  | 'INVALID_METRIC'
  | 'UNSAFE_ARTIFACT_PATH'
  | 'ARTIFACT_NOT_FOUND'
  | 'ARTIFACT_MISSING_FILE'
  | 'ARTIFACT_MISMATCH';

export class StoreError extends Error {
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
  }
}

export function isStoreError(err: unknown, code?: StoreErrorCode): err is StoreError {
  return err instanceof StoreError && (code === undefined || err.code === code);
}
