/**
 * Hugging Face safetensors, read and written on plain typed arrays (no tfjs) so that workers, the CLI and
 * tests can share it. The reader is as strict as the official Rust one (data ranges must tile the buffer
 * exactly), and every malformed input becomes a SafetensorsError saying what is wrong and where, never a
 * silent wrong read.
 */
import * as fs from 'node:fs';

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

/** How each dtype is held in memory as read; F16/BF16 are raw bits here and widen to F32 on decode. */
// prettier-ignore
const STORAGE = {
  F64: Float64Array, F32: Float32Array, F16: Uint16Array, BF16: Uint16Array,
  I64: BigInt64Array, I32: Int32Array, I16: Int16Array, I8: Int8Array,
  U64: BigUint64Array, U32: Uint32Array, U16: Uint16Array, U8: Uint8Array, BOOL: Uint8Array,
};
export type SafetensorsDtype = keyof typeof STORAGE;
export const SAFETENSORS_DTYPES = Object.keys(STORAGE) as SafetensorsDtype[];
export type DecodedArray<D extends SafetensorsDtype> = D extends 'F16' | 'BF16'
  ? Float32Array<ArrayBuffer>
  : InstanceType<(typeof STORAGE)[D]>;
export type TensorData = DecodedArray<SafetensorsDtype>;
export type TensorEntry<D extends SafetensorsDtype = SafetensorsDtype> = {
  dtype: D;
  shape: number[];
  data: DecodedArray<D>;
};
/**
 * Encoder input: the dtype's decoded array class (checked at run time; any backing buffer, e.g. a tfjs
 * dataSync() result), or for F16/BF16 also a Uint16Array of raw bits, written unchanged.
 */
export type TensorInput = {
  dtype: SafetensorsDtype;
  shape: readonly number[];
  data: ArrayBufferView & { length: number };
};
export type HeaderEntry = { dtype: SafetensorsDtype; shape: number[]; dataOffsets: [number, number] };
/** `dataStart` is the absolute offset of the data buffer (8 + header length). */
export type SafetensorsHeader = {
  tensors: Record<string, HeaderEntry>;
  metadata: Record<string, string>;
  dataStart: number;
};
export type DecodedSafetensors = { tensors: Record<string, TensorEntry>; metadata: Record<string, string> };
/** `names`: decode only these (the whole header is still validated); `source`: prefix of error messages. */
export type DecodeOptions = { names?: readonly string[]; source?: string };

const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const isDtype = (d: unknown): d is SafetensorsDtype => typeof d === 'string' && Object.hasOwn(STORAGE, d);
const sizeOf = (d: SafetensorsDtype) => STORAGE[d].BYTES_PER_ELEMENT;
const alloc = (d: SafetensorsDtype, n: number) => new (STORAGE[d] as new (n: number) => TensorData)(n);
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isNonNegInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const fmt = (v: unknown) => (v === undefined ? 'undefined' : JSON.stringify(v));
const failer = (src: string) => (msg: string) => new SafetensorsError(`${src}: ${msg}`);

/** The format is little-endian on disk; swapping keeps big-endian hosts correct instead of silently wrong. */
function swapInPlace(bytes: Uint8Array, size: number): void {
  if (LITTLE_ENDIAN_HOST || size === 1) return;
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

function numel(shape: unknown, fail: (m: string) => Error, where: string): number {
  if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
    throw fail(`${where}: shape must be an array of non-negative integers, got ${fmt(shape)}`);
  }
  const n = shape.reduce((a: number, b: number) => a * b, 1);
  if (!Number.isSafeInteger(n)) throw fail(`${where}: shape ${fmt(shape)} has too many elements`);
  return n;
}

export function halfBitsToFloat32(bits: Uint16Array): Float32Array<ArrayBuffer> {
  const out = new Float32Array(bits.length);
  const u32 = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i];
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    let mant = h & 0x3ff;
    // exp 31 is inf or NaN; NaN keeps its payload (and quiet bit) shifted into the float32 mantissa.
    if (exp === 0x1f) u32[i] = sign | 0x7f800000 | (mant << 13);
    else if (exp !== 0) u32[i] = sign | ((exp + 112) << 23) | (mant << 13);
    else if (mant === 0) u32[i] = sign;
    else {
      // Every half subnormal is a normal float32, so normalise the mantissa.
      let e = 113;
      for (; (mant & 0x400) === 0; e--) mant <<= 1;
      u32[i] = sign | (e << 23) | ((mant & 0x3ff) << 13);
    }
  }
  return out;
}

/** Round-to-nearest-even, as numpy and torch do, so values that came from F16 return to the same bits. */
export function float32ToHalfBits(values: Float32Array): Uint16Array<ArrayBuffer> {
  const u32 = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = u32[i];
    const exp = (x >>> 23) & 0xff;
    const mant = x & 0x7fffff;
    const e = exp - 112;
    let h = 0;
    if (exp === 0xff) h = 0x7c00 | (mant === 0 ? 0 : mant >>> 13 || 0x200);
    else if (e >= 31) h = 0x7c00;
    else if (e >= -10) {
      // Normal halves keep 10 mantissa bits; subnormals (e <= 0) shift the implicit 1 in as well.
      const m = e > 0 ? mant : mant | 0x800000;
      const shift = e > 0 ? 13 : 14 - e;
      const rem = m & ((1 << shift) - 1);
      const halfway = 1 << (shift - 1);
      h = (e > 0 ? e << 10 : 0) | (m >>> shift);
      // A carry into the exponent field is the correct rounding (up to the next binade, or to inf).
      if (rem > halfway || (rem === halfway && h & 1)) h++;
    }
    out[i] = ((x >>> 16) & 0x8000) | h;
  }
  return out;
}

export function bf16BitsToFloat32(bits: Uint16Array): Float32Array<ArrayBuffer> {
  const out = new Float32Array(bits.length);
  const u32 = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) u32[i] = bits[i] << 16;
  return out;
}

export function float32ToBf16Bits(values: Float32Array): Uint16Array<ArrayBuffer> {
  const u32 = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = u32[i];
    // NaN must stay NaN: rounding could carry a small payload away and leave an infinity.
    if ((x & 0x7fffffff) > 0x7f800000) out[i] = (x >>> 16) | 0x40;
    else out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** I64 → Int32Array when every value fits (token ids, positions); throws rather than wrapping around. */
export function int64ToInt32(values: BigInt64Array | BigUint64Array, what = 'tensor'): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < -0x80000000n || v > 0x7fffffffn) {
      throw new SafetensorsError(`${what}: value ${v} at index ${i} does not fit in int32`);
    }
    out[i] = Number(v);
  }
  return out;
}

function tensorBytes(t: TensorInput, fail: (m: string) => Error, where: string): Uint8Array {
  if (!isDtype(t.dtype)) throw fail(`${where}: unknown dtype ${fmt(t.dtype)}`);
  const n = numel(t.shape, fail, where);
  const half = t.dtype === 'F16' || t.dtype === 'BF16';
  let data = t.data;
  if (half && data instanceof Float32Array) {
    data = t.dtype === 'F16' ? float32ToHalfBits(data) : float32ToBf16Bits(data);
  }
  if (!(data instanceof STORAGE[t.dtype])) {
    const want = STORAGE[t.dtype].name + (half ? ' (raw bits) or Float32Array' : '');
    throw fail(`${where}: dtype ${t.dtype} needs ${want}, got ${data?.constructor?.name ?? typeof data}`);
  }
  if (data.length !== n)
    throw fail(`${where}: data has ${data.length} elements but shape ${fmt(t.shape)} needs ${n}`);
  if (t.dtype === 'BOOL' && (data as Uint8Array).some((v) => v > 1))
    throw fail(`${where}: BOOL values must be 0 or 1`);
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN_HOST) return bytes;
  const copy = bytes.slice();
  swapInPlace(copy, sizeOf(t.dtype));
  return copy;
}

/** Deterministic: tensors sorted by name, laid out contiguously; header space-padded to a multiple of 8. */
export function encodeSafetensors(
  tensors: Record<string, TensorInput>,
  metadata?: Record<string, string>,
): Uint8Array {
  const fail = failer('encodeSafetensors');
  const header: [string, unknown][] = [];
  if (metadata && Object.keys(metadata).length > 0) {
    const bad = Object.entries(metadata).find(([, v]) => typeof v !== 'string');
    if (bad) throw fail(`__metadata__ value for '${bad[0]}' must be a string, got ${typeof bad[1]}`);
    header.push(['__metadata__', metadata]);
  }
  const payloads: Uint8Array[] = [];
  let offset = 0;
  for (const name of Object.keys(tensors).sort()) {
    if (name === '__metadata__') throw fail(`'__metadata__' is reserved and cannot name a tensor`);
    const t = tensors[name];
    const bytes = tensorBytes(t, fail, `tensor '${name}'`);
    payloads.push(bytes);
    header.push([
      name,
      { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] },
    ]);
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(Object.fromEntries(header)));
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let p = 8 + headerLen;
  for (const b of payloads) {
    out.set(b, p);
    p += b.length;
  }
  return out;
}

function headerLength(prefix: Uint8Array, fileLength: number, fail: (m: string) => Error): number {
  if (fileLength < 8) throw fail(`file is ${fileLength} bytes, shorter than the 8-byte header length prefix`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > MAX_HEADER_BYTES)
    throw fail(`header length ${n} bytes exceeds the 100 MB limit (not a safetensors file?)`);
  if (8 + Number(n) > fileLength)
    throw fail(`header length ${n} bytes runs past the end of the ${fileLength}-byte file`);
  return Number(n);
}

function parseEntry(name: string, v: unknown, fail: (m: string) => Error): HeaderEntry {
  const where = `tensor '${name}'`;
  if (!isObject(v)) throw fail(`${where}: header entry must be an object, got ${fmt(v)}`);
  const missing = ['dtype', 'shape', 'data_offsets'].find((key) => !(key in v));
  if (missing) throw fail(`${where}: header entry is missing "${missing}"`);
  const dtype = v.dtype;
  if (!isDtype(dtype))
    throw fail(`${where}: unknown dtype ${fmt(dtype)} (supported: ${SAFETENSORS_DTYPES.join(', ')})`);
  const n = numel(v.shape, fail, where);
  const off = v.data_offsets;
  if (!Array.isArray(off) || off.length !== 2 || !off.every(isNonNegInt) || off[0] > off[1]) {
    throw fail(`${where}: data_offsets must be two ascending non-negative integers, got ${fmt(off)}`);
  }
  const need = n * sizeOf(dtype);
  if (off[1] - off[0] !== need) {
    const got = off[1] - off[0];
    throw fail(
      `${where}: data_offsets ${fmt(off)} hold ${got} bytes, ${dtype} ${fmt(v.shape)} needs ${need}`,
    );
  }
  return { dtype, shape: [...(v.shape as number[])], dataOffsets: [off[0], off[1]] };
}

/** `bytes` must hold at least the prefix and the header; `fileLength` is the length of the whole file. */
function parseHeader(bytes: Uint8Array, fileLength: number, src: string): SafetensorsHeader {
  const fail = failer(src);
  const n = headerLength(bytes, fileLength, fail);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    const utf8 = e instanceof TypeError;
    throw fail(`header (${n} bytes) is not valid ${utf8 ? 'UTF-8' : 'JSON'}: ${(e as Error).message}`);
  }
  if (!isObject(json))
    throw fail(`header must be a JSON object, got ${Array.isArray(json) ? 'an array' : fmt(json)}`);
  const metadata = json.__metadata__ ?? {};
  if (!isObject(metadata) || !Object.values(metadata).every((x) => typeof x === 'string')) {
    throw fail(`__metadata__ must be an object of string values, got ${fmt(metadata)}`);
  }
  const entries = Object.entries(json)
    .filter(([name]) => name !== '__metadata__')
    .map(([name, v]) => [name, parseEntry(name, v, fail)] as const);

  // The official reader rejects gaps as well as overlaps, so any file we accept is one every reader accepts.
  const dataLength = fileLength - 8 - n;
  const byStart = [...entries].sort(
    ([, a], [, b]) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1],
  );
  let cursor = 0;
  let prev = '';
  for (const [name, { dataOffsets: off }] of byStart) {
    if (off[0] < cursor)
      throw fail(`tensor '${name}': data_offsets ${fmt(off)} overlap tensor '${prev}' (ends at ${cursor})`);
    if (off[1] > dataLength) {
      throw fail(
        `tensor '${name}': data_offsets ${fmt(off)} end past the ${dataLength}-byte data buffer (file truncated?)`,
      );
    }
    if (off[0] > cursor)
      throw fail(`data bytes ${cursor}..${off[0]} before tensor '${name}' belong to no tensor (gap)`);
    cursor = off[1];
    prev = name;
  }
  if (cursor !== dataLength)
    throw fail(`${dataLength - cursor} trailing bytes after the last tensor's data (gap)`);
  return {
    tensors: Object.fromEntries(entries),
    metadata: metadata as Record<string, string>,
    dataStart: n + 8,
  };
}

/** Parses and fully validates the header, data layout included, without copying any tensor data. */
export function readSafetensorsHeader(bytes: Uint8Array, source = 'safetensors'): SafetensorsHeader {
  return parseHeader(bytes, bytes.length, source);
}

/**
 * The header of a safetensors file, read without its tensor data (only the length prefix and the header bytes):
 * what a caller needs to describe a large checkpoint cheaply. Validated as readSafetensorsHeader.
 */
export function readSafetensorsFileHeader(path: string): SafetensorsHeader {
  const fileLength = fs.statSync(path).size;
  const fd = fs.openSync(path, 'r');
  try {
    const prefix = new Uint8Array(8);
    fs.readSync(fd, prefix, 0, Math.min(8, fileLength), 0);
    const n = headerLength(prefix, fileLength, failer(path));
    const bytes = new Uint8Array(8 + n);
    bytes.set(prefix);
    fs.readSync(fd, bytes, 8, n, 8);
    return parseHeader(bytes, fileLength, path);
  } finally {
    fs.closeSync(fd);
  }
}

function decodeData(bytes: Uint8Array, dtype: SafetensorsDtype): TensorData {
  // Always copy: the source offset may be unaligned, and callers must not alias (and pin) the file buffer.
  const out = alloc(dtype, bytes.length / sizeOf(dtype));
  const view = new Uint8Array(out.buffer);
  view.set(bytes);
  swapInPlace(view, sizeOf(dtype));
  if (dtype === 'F16') return halfBitsToFloat32(out as Uint16Array);
  if (dtype === 'BF16') return bf16BitsToFloat32(out as Uint16Array);
  return out;
}

export function decodeSafetensors(bytes: Uint8Array, opts: DecodeOptions = {}): DecodedSafetensors {
  const src = opts.source ?? 'safetensors';
  const header = parseHeader(bytes, bytes.length, src);
  const tensors = Object.fromEntries(
    (opts.names ?? Object.keys(header.tensors)).map((name) => {
      if (!Object.hasOwn(header.tensors, name)) throw failer(src)(`tensor '${name}' not found`);
      const { dtype, shape, dataOffsets: off } = header.tensors[name];
      const data = decodeData(bytes.subarray(header.dataStart + off[0], header.dataStart + off[1]), dtype);
      return [name, { dtype, shape, data } as TensorEntry];
    }),
  );
  return { tensors, metadata: header.metadata };
}

/** Checks a tensor's presence, dtype and shape (-1 matches any size) and returns it typed by its dtype. */
export function expectTensor<D extends SafetensorsDtype>(
  file: DecodedSafetensors,
  name: string,
  dtype: D,
  shape: readonly number[],
): TensorEntry<D> {
  if (!Object.hasOwn(file.tensors, name)) {
    const have = Object.keys(file.tensors);
    const list = have.slice(0, 8).join(', ') + (have.length > 8 ? ', …' : '');
    throw new SafetensorsError(`tensor '${name}' not found (the file has ${have.length}: ${list})`);
  }
  const t = file.tensors[name];
  const shapeOk = t.shape.length === shape.length && shape.every((d, i) => d === -1 || d === t.shape[i]);
  if (t.dtype !== dtype || !shapeOk) {
    throw new SafetensorsError(
      `tensor '${name}': expected ${dtype} ${fmt(shape)}, got ${t.dtype} ${fmt(t.shape)}`,
    );
  }
  return t as TensorEntry<D>;
}

export function readSafetensorsFile(
  path: string,
  opts: Omit<DecodeOptions, 'source'> = {},
): DecodedSafetensors {
  return decodeSafetensors(fs.readFileSync(path), { ...opts, source: path });
}

/** Writes `<path>.tmp-<pid>`, flushes it to disk and renames: a crash never leaves a half-written `path`. */
export function writeSafetensorsFile(
  path: string,
  tensors: Record<string, TensorInput>,
  metadata?: Record<string, string>,
): void {
  const bytes = encodeSafetensors(tensors, metadata);
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, bytes, { flush: true });
    fs.renameSync(tmp, path);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
