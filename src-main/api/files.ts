/**
 * Files that cross the transport as bytes rather than Api messages: uploads (a corpus or a bundle posted by
 * the web page) and downloads (a run's artifacts, exported bundles). Both stay inside the data dir:
 * `<dataDir>/uploads/` and `<dataDir>/exports/`; artifacts are found through the store, never by a path from
 * the request.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { UPLOAD_LIMITS, type UploadResult } from '../../src-shared/api.ts';
import { loadTextFile } from '../engine/text/corpus.ts';
import { readTextSet } from '../engine/text/textSet.ts';
import type { Store } from '../store/index.ts';

export type UploadKind = 'corpus' | 'bundle';

export { UPLOAD_LIMITS };

export class UploadError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function uploadsDir(dataDir: string): string {
  return path.join(dataDir, 'uploads');
}

export function exportsDir(dataDir: string): string {
  return path.join(dataDir, 'exports');
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(bytes < 1024 * 1024 ? 2 : 0)} MiB`;

/** A file name safe to keep: the last path component, odd characters replaced, length bounded. */
export function safeFileName(name: string, fallback: string): string {
  const base = path
    .basename(name.replaceAll('\\', '/'))
    .replace(/[^\w.+-]+/g, '_')
    .replace(/^\.+/, '');
  return (base || fallback).slice(0, 120);
}

/**
 * Streams an upload into the data dir with its sha256, refusing it past the size limit, then checks it as
 * the CLI would check the same file (a corpus must be readable text; a bundle must at least be a zip). A
 * refused upload leaves no file behind.
 */
export async function receiveUpload(
  dataDir: string,
  kind: UploadKind,
  fileName: string,
  body: Readable,
  declaredBytes: number | null,
): Promise<UploadResult> {
  const limit = UPLOAD_LIMITS[kind];
  if (declaredBytes !== null && declaredBytes > limit)
    throw new UploadError(
      413,
      `the ${kind} is ${mib(declaredBytes)}; uploads of a ${kind} are limited to ${mib(limit)}`,
    );
  const dir = uploadsDir(dataDir);
  // A refused first upload leaves the data dir as it found it: the folder goes again when it was made for it.
  const madeDir = !fs.existsSync(dir);
  fs.mkdirSync(dir, { recursive: true });
  const name = safeFileName(fileName, kind === 'corpus' ? 'corpus.txt' : 'bundle.zip');
  // A corpus keeps its extension while it is checked: the text-set reader tells JSONL from plain text by it.
  const ext = kind === 'corpus' && path.extname(name) === '.jsonl' ? '.jsonl' : '';
  const tmp = path.join(dir, `.upload-${process.pid}-${randomBytes(6).toString('hex')}${ext}`);
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    await pipeline(
      body,
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          bytes += chunk.length;
          if (bytes > limit)
            throw new UploadError(
              413,
              `the ${kind} is larger than ${mib(limit)}, the limit for uploads of a ${kind}`,
            );
          hash.update(chunk);
          yield chunk;
        }
      },
      fs.createWriteStream(tmp),
    );
    if (bytes === 0) throw new UploadError(400, `the uploaded ${kind} '${name}' is empty`);
    if (kind === 'corpus') {
      try {
        loadTextFile(tmp); // the same checks as `scalar train-lm --corpus FILE`: UTF-8 text, not binary, not empty
        // A JSONL text set: every line an object with a string "text", as the streamed SAE run reads it.
        if (ext) for (const piece of readTextSet(tmp)) void piece;
      } catch (err) {
        throw new UploadError(
          422,
          `'${name}' cannot be used as a corpus: ${(err as Error).message.replaceAll(tmp, name)}`,
        );
      }
    } else {
      const head = Buffer.alloc(4);
      const fd = fs.openSync(tmp, 'r');
      fs.readSync(fd, head, 0, 4, 0);
      fs.closeSync(fd);
      if (head.readUInt32LE(0) !== 0x04034b50 && head.readUInt32LE(0) !== 0x06054b50)
        throw new UploadError(422, `'${name}' is not a zip file, so it cannot be a run bundle`);
    }
    const sha256 = hash.digest('hex');
    const final = path.join(dir, `${sha256.slice(0, 16)}-${name}`);
    fs.renameSync(tmp, final);
    return { path: final, name, bytes, sha256 };
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    if (madeDir)
      try {
        fs.rmdirSync(dir); // only when empty (another upload may have started meanwhile)
      } catch {
        /* kept */
      }
    if (err instanceof UploadError) throw err;
    throw new UploadError(400, `the upload of '${name}' failed: ${(err as Error).message}`);
  }
}

export interface Download {
  file: string;
  /** The name a browser saves it under. */
  name: string;
  bytes: number;
}

/**
 * `/files/runs/<runId>/<artifactId>` → a registered artifact of that run; `/files/exports/<name>` → an
 * exported bundle. Anything else, or a file that is gone, is null (404).
 */
export function resolveDownload(store: Store, urlPath: string): Download | null {
  const parts = urlPath
    .split('/')
    .filter(Boolean)
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return '';
      }
    });
  if (parts[0] !== 'files') return null;
  let file: string;
  let name: string;
  if (parts[1] === 'runs' && parts.length === 4 && /^\d+$/.test(parts[3])) {
    const artifact = store.getArtifact(Number(parts[3]));
    if (!artifact || artifact.runId !== parts[2]) return null;
    file = store.resolveArtifactFile(artifact);
    name = `${artifact.runId}-${path.basename(artifact.name)}`;
  } else if (parts[1] === 'exports' && parts.length === 3) {
    if (safeFileName(parts[2], '') !== parts[2]) return null;
    file = path.join(exportsDir(store.dataDir), parts[2]);
    name = parts[2];
  } else return null;
  try {
    const stat = fs.statSync(file);
    return stat.isFile() ? { file, name, bytes: stat.size } : null;
  } catch {
    return null;
  }
}
