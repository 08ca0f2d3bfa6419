/**
 * Sending a user's file to the main side. Web mode: POST the file's bytes to the server's `upload` endpoint (the
 * page's session cookie authenticates it), which stores it and answers where. Electron: the main side can read
 * local files, so a picked path is used as is (see `pickLocalFile`).
 */
import { UploadResultSchema, type UploadResult } from '../../src-shared/api.ts';

export type UploadKind = 'corpus' | 'bundle';

/** What a failed upload says: the server's `{error}` message when it sent one, else the HTTP status. */
async function uploadError(res: Response): Promise<Error> {
  let message = `upload failed: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
  try {
    const body = (await res.json()) as { error?: unknown };
    if (typeof body?.error === 'string' && body.error) message = body.error;
  } catch {
    // not JSON: keep the status line
  }
  return new Error(message);
}

/** Uploads one file (web mode) and returns where the main side stored it. */
export async function uploadFile(file: File, kind: UploadKind): Promise<UploadResult> {
  let res: Response;
  try {
    res = await fetch(`upload?kind=${encodeURIComponent(kind)}`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: {
        'Content-Type': 'application/octet-stream',
        // Header values must be ISO-8859-1; encode so any file name survives.
        'X-File-Name': encodeURIComponent(file.name),
      },
      body: file,
    });
  } catch (err) {
    throw new Error(`upload failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!res.ok) throw await uploadError(res);
  const parsed = UploadResultSchema.safeParse(await res.json().catch(() => null));
  if (!parsed.success) {
    throw new Error(`upload failed: malformed answer (${parsed.error.issues[0]?.message ?? 'invalid'})`);
  }
  return parsed.data;
}

/** The Electron bridge's file picker, when the desktop app provides one (`folder`: it picks a folder). */
type PickFile = (options: { kind: UploadKind | 'folder'; extensions?: string[] }) => Promise<string | null>;

export function localFilePicker(): PickFile | null {
  if (typeof window === 'undefined') return null;
  const pick = (window.scalar as { pickFile?: unknown } | undefined)?.pickFile;
  return typeof pick === 'function' ? (pick as PickFile).bind(window.scalar) : null;
}
