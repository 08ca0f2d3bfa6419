/** Byte-level checks that tell a text file from a binary one before it is decoded. */

/** How much of a file is inspected for binary content: enough to be representative, cheap on huge files. */
export const SNIFF_BYTES = 64 * 1024;

/** Above these fractions of the sniffed bytes a file is rejected rather than trained on as garbage. */
export const MAX_CONTROL_FRACTION = 0.1;
export const MAX_INVALID_UTF8_FRACTION = 0.01;

export interface ByteReport {
  inspected: number;
  firstNul: number; // -1 when there is none
  nulBytes: number;
  /** C0 controls other than tab, LF, VT, FF, CR, ESC; and DEL. */
  controlBytes: number;
  /** Bytes inside ill-formed UTF-8 sequences (each maximal ill-formed subpart counted by its length). */
  invalidUtf8Bytes: number;
}

export function inspectBytes(bytes: Uint8Array, limit = SNIFF_BYTES): ByteReport {
  const sample = bytes.subarray(0, Math.min(limit, bytes.length));
  let firstNul = -1;
  let nulBytes = 0;
  let controlBytes = 0;
  for (let i = 0; i < sample.length; i++) {
    const b = sample[i];
    if (b === 0) {
      nulBytes++;
      if (firstNul < 0) firstNul = i;
    } else if ((b < 0x20 && !(b >= 0x09 && b <= 0x0d) && b !== 0x1b) || b === 0x7f) {
      controlBytes++;
    }
  }
  // A multi-byte character cut by the sniff limit is not an error.
  const truncated = sample.length < bytes.length;
  return {
    inspected: sample.length,
    firstNul,
    nulBytes,
    controlBytes,
    invalidUtf8Bytes: countInvalidUtf8(sample, truncated),
  };
}

/**
 * Counts bytes of ill-formed UTF-8 following the Unicode "maximal subpart" rule (the same bytes a decoder replaces
 * with U+FFFD). With `allowTruncatedTail`, an incomplete but so-far valid sequence at the very end is not counted.
 */
export function countInvalidUtf8(bytes: Uint8Array, allowTruncatedTail = false): number {
  let bad = 0;
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const b = bytes[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b === 0xe0) [need, lo] = [2, 0xa0];
    else if (b === 0xed) [need, hi] = [2, 0x9f];
    else if (b >= 0xe1 && b <= 0xef) need = 2;
    else if (b === 0xf0) [need, lo] = [3, 0x90];
    else if (b === 0xf4) [need, hi] = [3, 0x8f];
    else if (b >= 0xf1 && b <= 0xf3) need = 3;
    else {
      bad++;
      i++;
      continue;
    }
    let j = i + 1;
    let ok = true;
    for (let k = 0; k < need; k++, j++) {
      if (j >= n) {
        if (allowTruncatedTail) return bad;
        ok = false;
        break;
      }
      const c = bytes[j];
      const min = k === 0 ? lo : 0x80;
      const max = k === 0 ? hi : 0xbf;
      if (c < min || c > max) {
        ok = false;
        break;
      }
    }
    if (!ok) bad += j - i;
    i = j;
  }
  return bad;
}
