/** Errors of run bundle export and import: a stable code for callers, a message meant for the user. */
export type BundleErrorCode =
  | 'NO_RUNS'
  | 'RUN_NOT_FOUND'
  | 'RUN_ACTIVE'
  | 'EXPORT_FAILED'
  | 'FILE_NOT_FOUND'
  | 'NOT_A_ZIP'
  | 'UNSUPPORTED_ZIP'
  | 'CORRUPT_ENTRY'
  | 'UNSAFE_ENTRY'
  | 'NO_MANIFEST'
  | 'BAD_MANIFEST'
  | 'UNSUPPORTED_VERSION'
  | 'MISSING_FILE'
  | 'EXTRA_FILE'
  | 'HASH_MISMATCH'
  | 'BAD_TABLE'
  | 'MISSING_DEPENDENCY'
  | 'FOLDER_CONFLICT'
  | 'IMPORT_FAILED'
  | 'WITHOUT_WEIGHTS';

export class BundleError extends Error {
  readonly code: BundleErrorCode;

  constructor(code: BundleErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BundleError';
    this.code = code;
  }
}

export function isBundleError(err: unknown, code?: BundleErrorCode): err is BundleError {
  return err instanceof BundleError && (code === undefined || err.code === code);
}
