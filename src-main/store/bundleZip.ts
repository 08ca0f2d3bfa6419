/**
 * Zip plumbing for run bundles. fflate does the compression and writes the archive; reading uses the archive's
 * central directory (the authoritative list of entries, with each entry's sizes, CRC and unix mode bits) and
 * feeds each entry's exact compressed byte range to fflate's inflater. fflate's streaming `Unzip` is not used
 * to read: it exposes no attributes (symlinks could not be told apart) and finds the end of a streamed entry by
 * scanning for the data-descriptor signature, which compressed weights can contain by chance.
 *
 * Only what bundles need: one disk, no ZIP64 (archives and entries under 4 GiB), stored or deflated entries,
 * no encryption. Everything else is refused with a ZipFormatError.
 */
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import zlib from 'node:zlib';
import { Inflate, Zip, ZipDeflate, ZipPassThrough, type ZipInputFile } from 'fflate';

export type ZipProblem = 'not-zip' | 'unsupported' | 'corrupt';

export class ZipFormatError extends Error {
  constructor(
    readonly problem: ZipProblem,
    message: string,
  ) {
    super(message);
    this.name = 'ZipFormatError';
  }
}

export interface ZipEntry {
  name: string;
  compression: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  /** Unix st_mode from the external attributes when the entry was made on a unix-like system, else null. */
  unixMode: number | null;
  symlink: boolean;
  directory: boolean;
}

const EOCD_SIG = 0x06054b50;
const CDH_SIG = 0x02014b50;
const LFH_SIG = 0x04034b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;
/** "Version made by" host systems whose external attributes carry unix mode bits: Unix, OS X. */
const UNIX_HOSTS = new Set([3, 19]);
/** Biggest value any 32-bit size field can hold; fflate writes no ZIP64, so bundles stay below it. */
export const ZIP32_LIMIT = 0xffffffff;

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
}

const notZip = (why: string) => new ZipFormatError('not-zip', why);

/**
 * Reads the end-of-central-directory record and the central directory of a zip file. `dataEnd` is the
 * directory's offset: entry data must end before it.
 */
export async function readZipDirectory(
  fh: FileHandle,
  fileSize: number,
): Promise<{ entries: ZipEntry[]; dataEnd: number }> {
  if (fileSize < 22) throw notZip(`the file is ${fileSize} bytes, shorter than the smallest zip`);
  const tailLength = Math.min(fileSize, 22 + 0xffff);
  const tailStart = fileSize - tailLength;
  const tail = await readAt(fh, tailStart, tailLength);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    // The comment length must reach exactly to the end of the file: a stray signature in data does not count.
    if (tail.readUInt32LE(i) === EOCD_SIG && i + 22 + tail.readUInt16LE(i + 20) === tail.length) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw notZip('no end-of-central-directory record');
  const disk = tail.readUInt16LE(eocd + 4);
  const cdDisk = tail.readUInt16LE(eocd + 6);
  const entriesOnDisk = tail.readUInt16LE(eocd + 8);
  const entries = tail.readUInt16LE(eocd + 10);
  const cdSize = tail.readUInt32LE(eocd + 12);
  const cdOffset = tail.readUInt32LE(eocd + 16);
  if (eocd >= 20 && tail.readUInt32LE(eocd - 20) === ZIP64_LOCATOR_SIG) {
    throw new ZipFormatError(
      'unsupported',
      'ZIP64 archives (over 4 GiB or 65,535 entries) are not supported',
    );
  }
  if (disk !== 0 || cdDisk !== 0 || entriesOnDisk !== entries) {
    throw new ZipFormatError('unsupported', 'multi-volume zip archives are not supported');
  }
  const eocdPos = tailStart + eocd;
  if (cdOffset + cdSize !== eocdPos) {
    throw notZip(
      `the central directory (${cdSize} bytes at ${cdOffset}) does not end where its record starts`,
    );
  }
  const cd = await readAt(fh, cdOffset, cdSize);
  const out: ZipEntry[] = [];
  let p = 0;
  for (let n = 0; n < entries; n++) {
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== CDH_SIG)
      throw notZip(`central directory entry ${n} is damaged`);
    const madeBy = cd.readUInt16LE(p + 4);
    const flags = cd.readUInt16LE(p + 8);
    const nameLength = cd.readUInt16LE(p + 28);
    const extraLength = cd.readUInt16LE(p + 30);
    const commentLength = cd.readUInt16LE(p + 32);
    const externalAttrs = cd.readUInt32LE(p + 38);
    const end = p + 46 + nameLength + extraLength + commentLength;
    if (end > cd.length) throw notZip(`central directory entry ${n} is damaged`);
    const rawName = cd.subarray(p + 46, p + 46 + nameLength);
    // Bit 11: UTF-8 names; otherwise the legacy code page, read byte for byte.
    const name = rawName.toString(flags & 0x800 ? 'utf8' : 'latin1');
    const unixMode = UNIX_HOSTS.has(madeBy >> 8) ? externalAttrs >>> 16 : null;
    const type = unixMode === null ? 0 : unixMode & S_IFMT;
    out.push({
      name,
      compression: cd.readUInt16LE(p + 10),
      flags,
      crc32: cd.readUInt32LE(p + 16),
      compressedSize: cd.readUInt32LE(p + 20),
      size: cd.readUInt32LE(p + 24),
      localHeaderOffset: cd.readUInt32LE(p + 42),
      unixMode,
      symlink: type === S_IFLNK,
      directory: type === S_IFDIR || (externalAttrs & 0x10) !== 0 || name.endsWith('/'),
    });
    p = end;
  }
  if (p !== cd.length) throw notZip('the central directory holds more than its record says');
  return { entries: out, dataEnd: cdOffset };
}

/**
 * Streams one entry's uncompressed bytes to `onData`, checking them against the central directory: the local
 * header must agree, the output must have the recorded size and CRC-32. `dataEnd` is where entry data must
 * stop (the central directory's offset).
 */
export async function readZipEntry(
  fh: FileHandle,
  entry: ZipEntry,
  dataEnd: number,
  onData: (chunk: Uint8Array) => void,
): Promise<void> {
  const corrupt = (why: string) => new ZipFormatError('corrupt', `entry ${entry.name}: ${why}`);
  if (entry.flags & 0x1) throw new ZipFormatError('unsupported', `entry ${entry.name} is encrypted`);
  if (entry.compression !== 0 && entry.compression !== 8) {
    throw new ZipFormatError(
      'unsupported',
      `entry ${entry.name} uses compression method ${entry.compression} (only stored and deflate are read)`,
    );
  }
  const header = await readAt(fh, entry.localHeaderOffset, 30);
  if (header.length < 30 || header.readUInt32LE(0) !== LFH_SIG) throw corrupt('its local header is missing');
  const nameLength = header.readUInt16LE(26);
  const extraLength = header.readUInt16LE(28);
  const localName = await readAt(fh, entry.localHeaderOffset + 30, nameLength);
  if (!localName.equals(Buffer.from(entry.name, entry.flags & 0x800 ? 'utf8' : 'latin1'))) {
    throw corrupt('its local header names another file');
  }
  if (header.readUInt16LE(8) !== entry.compression)
    throw corrupt('its local header disagrees on the compression');
  const start = entry.localHeaderOffset + 30 + nameLength + extraLength;
  if (start + entry.compressedSize > dataEnd) throw corrupt('its data runs past the end of the archive');

  let produced = 0;
  let crc = 0;
  let finished = entry.compression === 0;
  const take = (chunk: Uint8Array) => {
    produced += chunk.length;
    if (produced > entry.size) throw corrupt(`it holds more than the ${entry.size} bytes recorded for it`);
    crc = zlib.crc32(chunk, crc);
    if (chunk.length > 0) onData(chunk);
  };
  const inflater =
    entry.compression === 8
      ? new Inflate((chunk, final) => {
          take(chunk);
          if (final) finished = true;
        })
      : null;
  const step = 1 << 20;
  for (let offset = 0; offset < entry.compressedSize; offset += step) {
    const length = Math.min(step, entry.compressedSize - offset);
    const chunk = await readAt(fh, start + offset, length);
    if (chunk.length !== length) throw corrupt('the archive ends inside its data');
    const last = offset + length >= entry.compressedSize;
    if (inflater) {
      try {
        inflater.push(chunk, last);
      } catch (err) {
        if (err instanceof ZipFormatError) throw err;
        throw corrupt(`its compressed data is damaged (${(err as Error).message})`);
      }
    } else {
      take(chunk);
    }
  }
  if (inflater && entry.compressedSize === 0) throw corrupt('its compressed data is empty');
  if (!finished) throw corrupt('its compressed data ends early');
  if (produced !== entry.size) throw corrupt(`it holds ${produced} bytes, ${entry.size} recorded`);
  if (crc >>> 0 !== entry.crc32) throw corrupt('its CRC-32 does not match');
}

/** Binary tensors barely deflate; storing them keeps export fast. */
const STORE_EXTENSIONS = ['.safetensors', '.bin', '.npy', '.pt'];

/**
 * Writes a zip file entry by entry without holding entries in memory: fflate's Zip streams each entry's
 * output straight to the file descriptor. Entries are added one at a time and finished before the next.
 */
export class ZipFileWriter {
  bytes = 0;
  private readonly zip: Zip;
  private failure: Error | null = null;
  private ended = false;

  constructor(
    private readonly fd: number,
    private readonly mtime: Date,
  ) {
    this.zip = new Zip((err, data, final) => {
      if (err) {
        this.failure ??= err;
        return;
      }
      try {
        let written = 0;
        while (written < data.length) written += fs.writeSync(this.fd, data, written);
        this.bytes += data.length;
        if (this.bytes > ZIP32_LIMIT) throw new Error('bundles over 4 GiB are not supported');
      } catch (e) {
        this.failure ??= e as Error;
      }
      if (final) this.ended = true;
    });
  }

  private entry(name: string): ZipInputFile & { push(chunk: Uint8Array, final?: boolean): void } {
    const compress = !STORE_EXTENSIONS.some((ext) => name.endsWith(ext));
    const file = compress ? new ZipDeflate(name, { level: 6 }) : new ZipPassThrough(name);
    file.mtime = this.mtime;
    file.os = 3; // unix: external attributes carry a regular file's mode
    file.attrs = (0o100644 << 16) >>> 0;
    this.zip.add(file);
    return file;
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }

  addBuffer(name: string, data: Uint8Array): void {
    this.entry(name).push(data, true);
    this.check();
  }

  /** Streams a file into the archive; `onChunk` sees every chunk read (to hash what was written). */
  async addFile(name: string, absPath: string, onChunk: (chunk: Uint8Array) => void): Promise<void> {
    const file = this.entry(name);
    const fh = await fs.promises.open(absPath, 'r');
    try {
      const buf = Buffer.alloc(1 << 20);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        // fflate may keep a reference to the pushed chunk until the entry ends: push a copy.
        const chunk = Uint8Array.prototype.slice.call(buf, 0, bytesRead);
        onChunk(chunk);
        file.push(chunk, false);
        this.check();
      }
      file.push(new Uint8Array(0), true);
      this.check();
    } finally {
      await fh.close();
    }
  }

  finish(): void {
    this.zip.end();
    this.check();
    if (!this.ended) throw new Error('the zip writer did not finish the archive');
  }

  abort(): void {
    this.zip.terminate();
  }
}
