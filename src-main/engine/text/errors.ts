/**
 * Why a corpus cannot be used. The `code` lets the UI and CLI react (e.g. offer a file picker again) without
 * parsing messages; the message itself is written for the researcher and always names the cause.
 */
export type CorpusErrorCode =
  | 'unknown-builtin'
  | 'missing'
  | 'unreadable'
  | 'empty'
  | 'binary'
  | 'encoding'
  | 'too-short'
  | 'too-large'
  | 'format';

export class CorpusError extends Error {
  readonly code: CorpusErrorCode;

  constructor(code: CorpusErrorCode, message: string) {
    super(message);
    this.name = 'CorpusError';
    this.code = code;
  }
}
