/** Reading and checking a run bundle's manifest.json (src-shared/bundle.ts): before an import, or to show what a bundle holds. */
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import {
  BUNDLE_MANIFEST_FILE,
  BUNDLE_SCHEMA_VERSION,
  BundleManifestSchema,
  type BundleManifest,
} from '../../src-shared/bundle.ts';
import { BundleError } from './bundleError.ts';
import { ZipFormatError, readZipDirectory, readZipEntry, type ZipEntry } from './bundleZip.ts';
import { assertRunId } from './runId.ts';

const MANIFEST_LIMIT = 64 << 20;

/**
 * The checked manifest of a bundle file (what it holds, before importing it); the files' hashes are checked by
 * the import itself.
 */
export async function readBundleManifest(zipFile: string): Promise<BundleManifest> {
  const file = path.resolve(zipFile);
  let fh: FileHandle;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new BundleError('FILE_NOT_FOUND', `bundle ${file} not found`);
    throw new BundleError('IMPORT_FAILED', `cannot open bundle ${file}: ${(err as Error).message}`);
  }
  try {
    const { entries, dataEnd } = await readZipDirectory(fh, (await fh.stat()).size);
    return await readManifest(
      fh,
      entries.find((e) => e.name === BUNDLE_MANIFEST_FILE),
      dataEnd,
    );
  } catch (err) {
    if (err instanceof ZipFormatError)
      throw new BundleError('NOT_A_ZIP', `${file}: bundle is truncated or not a zip file (${err.message})`);
    throw err;
  } finally {
    await fh.close();
  }
}

export async function readManifest(
  fh: FileHandle,
  entry: ZipEntry | undefined,
  dataEnd: number,
): Promise<BundleManifest> {
  if (!entry) {
    throw new BundleError(
      'NO_MANIFEST',
      `bundle has no ${BUNDLE_MANIFEST_FILE}; it was not written by scalar bundle export`,
    );
  }
  if (entry.size > MANIFEST_LIMIT)
    throw new BundleError(
      'BAD_MANIFEST',
      `${BUNDLE_MANIFEST_FILE} is ${entry.size} bytes, more than a manifest can be`,
    );
  const parts: Uint8Array[] = [];
  await readZipEntry(fh, entry, dataEnd, (c) => parts.push(c));
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch (err) {
    throw new BundleError(
      'BAD_MANIFEST',
      `${BUNDLE_MANIFEST_FILE} is not valid JSON: ${(err as Error).message}`,
    );
  }
  const version = (raw as { bundleSchemaVersion?: unknown } | null)?.bundleSchemaVersion;
  if (version !== BUNDLE_SCHEMA_VERSION) {
    throw new BundleError(
      typeof version === 'number' ? 'UNSUPPORTED_VERSION' : 'BAD_MANIFEST',
      typeof version === 'number'
        ? `bundle schema version ${version} is not supported by this app (knows ${BUNDLE_SCHEMA_VERSION})`
        : `${BUNDLE_MANIFEST_FILE} has no bundleSchemaVersion; it was not written by scalar bundle export`,
    );
  }
  const parsed = BundleManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new BundleError('BAD_MANIFEST', `${BUNDLE_MANIFEST_FILE} is malformed (${issues.join('; ')})`);
  }
  const ids = new Set<string>();
  for (const r of parsed.data.runs) {
    try {
      assertRunId(r.id);
    } catch (err) {
      throw new BundleError('BAD_MANIFEST', `${BUNDLE_MANIFEST_FILE}: ${(err as Error).message}`);
    }
    if (ids.has(r.id))
      throw new BundleError('BAD_MANIFEST', `${BUNDLE_MANIFEST_FILE} lists run ${r.id} twice`);
    ids.add(r.id);
  }
  return parsed.data;
}
