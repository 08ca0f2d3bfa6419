import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SafetensorsError,
  bf16BitsToFloat32,
  decodeSafetensors,
  encodeSafetensors,
  expectTensor,
  float32ToBf16Bits,
  float32ToHalfBits,
  halfBitsToFloat32,
  int64ToInt32,
  readSafetensorsFile,
  readSafetensorsHeader,
  writeSafetensorsFile,
  type TensorInput,
} from '../../src-main/engine/io/safetensors.ts';

/** Builds a file byte by byte, independently of the encoder: u64 LE length, header text, raw data. */
function rawFile(header: string | object, data: ArrayLike<number> = [], headerLength?: bigint): Uint8Array {
  const text = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

const f32 = (shape: number[], begin: number, end: number) => ({
  dtype: 'F32',
  shape,
  data_offsets: [begin, end],
});
const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const decodeError = (bytes: Uint8Array) => {
  try {
    decodeSafetensors(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(SafetensorsError);
    return (e as Error).message;
  }
  throw new Error('expected decodeSafetensors to throw');
};
const half = (...bits: number[]) => Array.from(halfBitsToFloat32(new Uint16Array(bits)));

describe('safetensors round trip', () => {
  const tensors: Record<string, TensorInput> = {
    'h.0.attn.c_attn.weight': {
      dtype: 'F32',
      shape: [2, 3],
      data: new Float32Array([1, -2, 3.5, 1e-30, -0, NaN]),
    },
    scalar: { dtype: 'F32', shape: [], data: new Float32Array([Math.PI]) },
    empty: { dtype: 'F32', shape: [0, 5], data: new Float32Array(0) },
    f64: { dtype: 'F64', shape: [3], data: new Float64Array([Math.E, -1e300, 5e-324]) },
    i64: { dtype: 'I64', shape: [2], data: new BigInt64Array([-(2n ** 62n), 2n ** 40n]) },
    u64: { dtype: 'U64', shape: [1], data: new BigUint64Array([2n ** 64n - 1n]) },
    i32: { dtype: 'I32', shape: [2, 1], data: new Int32Array([-2147483648, 2147483647]) },
    u32: { dtype: 'U32', shape: [1], data: new Uint32Array([4294967295]) },
    i16: { dtype: 'I16', shape: [2], data: new Int16Array([-32768, 32767]) },
    u16: { dtype: 'U16', shape: [1], data: new Uint16Array([65535]) },
    i8: { dtype: 'I8', shape: [3], data: new Int8Array([-128, 0, 127]) },
    u8: { dtype: 'U8', shape: [1, 1, 2], data: new Uint8Array([0, 255]) },
    mask: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
    f16: { dtype: 'F16', shape: [2, 2], data: new Uint16Array([0x3c00, 0x0001, 0x7c00, 0xfe01]) },
    bf16: { dtype: 'BF16', shape: [3], data: new Uint16Array([0x3f80, 0xff80, 0x7fc1]) },
  };

  it('is bit-exact for every dtype, including a scalar, an empty tensor and NaN payloads', () => {
    const file = decodeSafetensors(encodeSafetensors(tensors, { format: 'pt', note: 'ünïcode' }));
    expect(file.metadata).toEqual({ format: 'pt', note: 'ünïcode' });
    expect(Object.keys(file.tensors).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const got = file.tensors[name];
      expect(got.dtype, name).toBe(t.dtype);
      expect(got.shape, name).toEqual(t.shape);
      if (t.dtype === 'F16') expect(float32ToHalfBits(got.data as Float32Array)).toEqual(t.data);
      else if (t.dtype === 'BF16') expect(float32ToBf16Bits(got.data as Float32Array)).toEqual(t.data);
      else {
        expect(got.data.constructor, name).toBe(t.data.constructor);
        expect(bytesOf(got.data), name).toEqual(bytesOf(t.data));
      }
    }
    expect(file.tensors.scalar.shape).toEqual([]);
    expect(file.tensors.empty.data.length).toBe(0);
  });

  it('is deterministic: sorted names, contiguous data, header space-padded to a multiple of 8', () => {
    const reversed = Object.fromEntries(Object.entries(tensors).reverse());
    const bytes = encodeSafetensors(tensors);
    expect(encodeSafetensors(reversed)).toEqual(bytes);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text.trimEnd().length).toBeGreaterThan(n - 8);
    expect(text.slice(text.trimEnd().length)).toMatch(/^ *$/);
    const header = readSafetensorsHeader(bytes);
    const names = Object.keys(tensors).sort();
    let cursor = 0;
    for (const name of names) {
      expect(header.tensors[name].dataOffsets[0]).toBe(cursor);
      cursor = header.tensors[name].dataOffsets[1];
    }
    expect(header.dataStart + cursor).toBe(bytes.length);
  });

  it('writes exactly the bytes the format prescribes for a small file', () => {
    const json = '{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
    expect(json.length).toBe(54);
    // prettier-ignore
    const expected = [56, 0, 0, 0, 0, 0, 0, 0, ...new TextEncoder().encode(json), 0x20, 0x20, 0x00, 0x00, 0x80, 0x3f];
    const got = encodeSafetensors({ x: { dtype: 'F32', shape: [1], data: new Float32Array([1]) } });
    expect(Array.from(got)).toEqual(expected);
  });

  it('rounds float32 to F16/BF16 to nearest even when encoding from values', () => {
    const values = new Float32Array([
      1,
      1 + 2 ** -11,
      1 + 3 * 2 ** -11,
      65519,
      65520,
      2 ** -25,
      2 ** -25 * (1 + 2 ** -20),
    ]);
    expect(Array.from(float32ToHalfBits(values))).toEqual([
      0x3c00, 0x3c00, 0x3c02, 0x7bff, 0x7c00, 0x0000, 0x0001,
    ]);
    const bf = new Float32Array([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, NaN, -Infinity]);
    const bits = float32ToBf16Bits(bf);
    expect(Array.from(bits.subarray(0, 3))).toEqual([0x3f80, 0x3f80, 0x3f82]);
    expect(bf16BitsToFloat32(bits)[3]).toBeNaN();
    expect(bits[4]).toBe(0xff80);
    const file = decodeSafetensors(
      encodeSafetensors({ h: { dtype: 'F16', shape: [2], data: new Float32Array([0.5, -3]) } }),
    );
    expect(file.tensors.h.data).toEqual(new Float32Array([0.5, -3]));
  });

  it('encodes views into larger or shared buffers (as tfjs dataSync() may return)', () => {
    const big = new Float32Array([9, 1, 2, 9]);
    const shared: Float32Array = new Float32Array(new SharedArrayBuffer(8));
    shared.set([3, 4]);
    const file = decodeSafetensors(
      encodeSafetensors({
        view: { dtype: 'F32', shape: [2], data: big.subarray(1, 3) },
        shared: { dtype: 'F32', shape: [2], data: shared },
      }),
    );
    expect(file.tensors.view.data).toEqual(new Float32Array([1, 2]));
    expect(file.tensors.shared.data).toEqual(new Float32Array([3, 4]));
  });

  it('F16 bits → float32 → F16 bits is the identity for all 65536 patterns', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    expect(float32ToHalfBits(halfBitsToFloat32(all))).toEqual(all);
  });
});

describe('decoding independently built bytes', () => {
  it('reads a hand-written header and float32 payload, padded header and metadata included', () => {
    // 1.0, -2.5 as little-endian float32; 7 as little-endian int32.
    const data = [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0, 0x07, 0x00, 0x00, 0x00];
    const header =
      '{"__metadata__":{"format":"pt"},"b":{"dtype":"I32","shape":[],"data_offsets":[8,12]},' +
      '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}     ';
    const file = decodeSafetensors(rawFile(header, data));
    expect(file.metadata).toEqual({ format: 'pt' });
    expect(file.tensors.a).toEqual({ dtype: 'F32', shape: [2], data: new Float32Array([1, -2.5]) });
    expect(file.tensors.b).toEqual({ dtype: 'I32', shape: [], data: new Int32Array([7]) });
  });

  it('copies out of unaligned buffers and can decode a subset of names', () => {
    const inner = rawFile({ a: { dtype: 'F64', shape: [1], data_offsets: [0, 8] }, b: f32([1], 8, 12) }, [
      ...bytesOf(new Float64Array([0.1])),
      ...bytesOf(new Float32Array([2])),
    ]);
    const holder = new Uint8Array(inner.length + 3);
    holder.set(inner, 3);
    const file = decodeSafetensors(holder.subarray(3), { names: ['a'] });
    expect(Object.keys(file.tensors)).toEqual(['a']);
    expect(file.tensors.a.data).toEqual(new Float64Array([0.1]));
    expect(file.tensors.a.data.byteOffset).toBe(0);
    expect(() => decodeSafetensors(inner, { names: ['zz'] })).toThrow(/tensor 'zz' not found/);
  });

  it('decodes F16 and BF16 bit patterns exactly', () => {
    expect(half(0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400)).toEqual([
      1, -2, 65504, 5.960464477539063e-8, 6.097555160522461e-5, 6.103515625e-5,
    ]);
    expect(half(0x7c00, 0xfc00)).toEqual([Infinity, -Infinity]);
    expect(half(0x7e00)[0]).toBeNaN();
    expect(half(0x7c01)[0]).toBeNaN();
    expect(Object.is(half(0x8000)[0], -0)).toBe(true);
    expect(Array.from(bf16BitsToFloat32(new Uint16Array([0x3f80, 0xc000, 0x7f80])))).toEqual([
      1,
      -2,
      Infinity,
    ]);
    expect(bf16BitsToFloat32(new Uint16Array([0x7fc0]))[0]).toBeNaN();
    const file = decodeSafetensors(
      rawFile(
        {
          h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] },
          b: { dtype: 'BF16', shape: [1], data_offsets: [4, 6] },
        },
        [0x01, 0x00, 0xff, 0x7b, 0x80, 0x3f],
      ),
    );
    expect(file.tensors.h.data).toEqual(new Float32Array([5.960464477539063e-8, 65504]));
    expect(file.tensors.b.data).toEqual(new Float32Array([1]));
  });
});

describe('malformed input', () => {
  const ok = f32([1], 0, 4);
  const four = [0, 0, 0, 0];
  it.each([
    ['file shorter than 8 bytes', new Uint8Array(5), /5 bytes, shorter than the 8-byte/],
    ['header longer than the file', rawFile({}, [], 1000n), /header length 1000 bytes runs past the end/],
    ['absurd header length', rawFile({}, [], 2n ** 40n), /exceeds the 100 MB limit/],
    ['header not UTF-8', rawFile('{"ab": 1}').map((b, i) => (i === 10 ? 0xff : b)), /not valid UTF-8/],
    ['header not JSON', rawFile('{"a": '), /not valid JSON/],
    ['header an array', rawFile('[1, 2]'), /must be a JSON object, got an array/],
    ['header null', rawFile('null'), /must be a JSON object, got null/],
    ['entry not an object', rawFile({ a: 3 }), /tensor 'a': header entry must be an object/],
    [
      'missing dtype',
      rawFile({ a: { shape: [1], data_offsets: [0, 4] } }, four),
      /tensor 'a'.*missing "dtype"/,
    ],
    [
      'missing shape',
      rawFile({ a: { dtype: 'F32', data_offsets: [0, 4] } }, four),
      /tensor 'a'.*missing "shape"/,
    ],
    ['missing offsets', rawFile({ a: { dtype: 'F32', shape: [1] } }, four), /missing "data_offsets"/],
    [
      'unknown dtype',
      rawFile({ a: { ...ok, dtype: 'F8_E4M3' } }, four),
      /tensor 'a': unknown dtype "F8_E4M3"/,
    ],
    [
      'negative dim',
      rawFile({ a: { ...ok, shape: [-1] } }, four),
      /shape must be .*non-negative integers, got \[-1\]/,
    ],
    ['fractional dim', rawFile({ a: { ...ok, shape: [0.5, 8] } }, four), /tensor 'a': shape must be/],
    ['shape not an array', rawFile({ a: { ...ok, shape: '1' } }, four), /tensor 'a': shape must be/],
    [
      'descending offsets',
      rawFile({ a: { ...ok, data_offsets: [4, 0] } }, four),
      /two ascending .*got \[4,0\]/,
    ],
    ['one offset', rawFile({ a: { ...ok, data_offsets: [4] } }, four), /two ascending/],
    ['three offsets', rawFile({ a: { ...ok, data_offsets: [0, 2, 4] } }, four), /two ascending/],
    ['string offsets', rawFile({ a: { ...ok, data_offsets: ['0', '4'] } }, four), /two ascending/],
    ['negative offset', rawFile({ a: { ...ok, data_offsets: [-4, 0] } }, four), /two ascending/],
    ['size mismatch', rawFile({ a: f32([2], 0, 4) }, four), /tensor 'a'.*hold 4 bytes, F32 \[2\] needs 8/],
    [
      'out of range',
      rawFile({ a: ok, b: f32([1], 16, 20) }, four),
      /tensor 'b'.*\[16,20\] end past the 4-byte data buffer/,
    ],
    [
      'overlap',
      rawFile({ a: f32([2], 0, 8), b: f32([1], 4, 8) }, [...four, ...four]),
      /'b'.*overlap tensor 'a'/,
    ],
    [
      'gap between',
      rawFile({ a: ok, b: f32([1], 8, 12) }, [...four, ...four, ...four]),
      /4\.\.8 before .*'b'.*gap/,
    ],
    [
      'gap at start',
      rawFile({ a: f32([1], 4, 8) }, [...four, ...four]),
      /bytes 0\.\.4 before tensor 'a'.*gap/,
    ],
    ['trailing bytes', rawFile({ a: ok }, [...four, ...four]), /4 trailing bytes/],
    ['metadata not strings', rawFile({ __metadata__: { n: 1 } }), /__metadata__ must be an object of string/],
  ])('%s', (_, bytes, message) => {
    expect(decodeError(bytes)).toMatch(message);
  });

  it('reports a truncated file, naming the tensor', () => {
    const bytes = encodeSafetensors({
      a: { dtype: 'F32', shape: [4], data: new Float32Array(4) },
      b: { dtype: 'F32', shape: [4], data: new Float32Array(4) },
    });
    expect(decodeError(bytes.subarray(0, bytes.length - 3))).toMatch(/tensor 'b'.*\[16,32\].*truncated/);
    expect(decodeError(bytes.subarray(0, 20))).toMatch(/runs past the end of the 20-byte file/);
  });

  it('rejects bad encoder input with the tensor named', () => {
    const enc = (t: unknown, meta?: unknown) => () =>
      encodeSafetensors(t as Record<string, TensorInput>, meta as Record<string, string>);
    expect(enc({ w: { dtype: 'F32', shape: [2], data: new Float64Array(2) } })).toThrow(
      /tensor 'w': dtype F32 needs Float32Array, got Float64Array/,
    );
    expect(enc({ w: { dtype: 'F32', shape: [2, 2], data: new Float32Array(3) } })).toThrow(
      /3 elements .*needs 4/,
    );
    expect(enc({ w: { dtype: 'F12', shape: [1], data: new Float32Array(1) } })).toThrow(
      /unknown dtype "F12"/,
    );
    expect(enc({ w: { dtype: 'F32', shape: [-2], data: new Float32Array(0) } })).toThrow(/shape must be/);
    expect(enc({ m: { dtype: 'BOOL', shape: [1], data: new Uint8Array([2]) } })).toThrow(
      /BOOL values must be 0 or 1/,
    );
    expect(enc({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } })).toThrow(/reserved/);
    expect(enc({}, { a: 1 })).toThrow(SafetensorsError);
  });
});

describe('helpers', () => {
  const file = decodeSafetensors(
    encodeSafetensors({
      wte: { dtype: 'F32', shape: [10, 4], data: new Float32Array(40) },
      ids: { dtype: 'I64', shape: [3], data: new BigInt64Array([0n, 5n, 50256n]) },
    }),
  );

  it('expectTensor checks presence, dtype and shape, with -1 as a wildcard', () => {
    expect(expectTensor(file, 'wte', 'F32', [10, -1]).data).toBeInstanceOf(Float32Array);
    expect(() => expectTensor(file, 'wte', 'F32', [4, 10])).toThrow(
      /'wte': expected F32 \[4,10\], got F32 \[10,4\]/,
    );
    expect(() => expectTensor(file, 'wte', 'F16', [10, 4])).toThrow(/expected F16 .*got F32/);
    expect(() => expectTensor(file, 'wpe', 'F32', [1])).toThrow(/'wpe' not found \(the file has 2: /);
  });

  it('int64ToInt32 converts when values fit and refuses otherwise', () => {
    expect(int64ToInt32(expectTensor(file, 'ids', 'I64', [3]).data)).toEqual(new Int32Array([0, 5, 50256]));
    expect(() => int64ToInt32(new BigInt64Array([2n ** 31n]), 'ids')).toThrow(
      /ids: value 2147483648 at index 0/,
    );
  });
});

describe('files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'safetensors-test-'));
  const t = { w: { dtype: 'F32' as const, shape: [2], data: new Float32Array([1, 2]) } };

  it('writes atomically, replaces an existing file and leaves no temp file behind', () => {
    const path = join(dir, 'sae_weights.safetensors');
    writeSafetensorsFile(path, { w: { dtype: 'F32', shape: [1], data: new Float32Array([9]) } });
    writeSafetensorsFile(path, t, { format: 'pt' });
    expect(readdirSync(dir)).toEqual(['sae_weights.safetensors']);
    const file = readSafetensorsFile(path);
    expect(file.tensors.w.data).toEqual(new Float32Array([1, 2]));
    expect(file.metadata).toEqual({ format: 'pt' });
    expect(new Uint8Array(readFileSync(path))).toEqual(encodeSafetensors(t, { format: 'pt' }));
  });

  it('cleans up the temp file when the write fails', () => {
    const sub = mkdtempSync(join(dir, 'fail-'));
    mkdirSync(join(sub, 'taken'));
    expect(() => writeSafetensorsFile(join(sub, 'taken'), t)).toThrow();
    expect(() => writeSafetensorsFile(join(sub, 'bad'), { w: { ...t.w, shape: [3] } })).toThrow(
      SafetensorsError,
    );
    expect(readdirSync(sub)).toEqual(['taken']);
  });

  it('names the file in errors', () => {
    const path = join(dir, 'broken.safetensors');
    writeFileSync(path, new Uint8Array(3));
    expect(() => readSafetensorsFile(path)).toThrow(
      new RegExp(`^${path.replace(/[.\\]/g, '\\$&')}: file is 3 bytes`),
    );
  });
});
