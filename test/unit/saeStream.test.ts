/**
 * The pieces of streamed SAE training (issue 12 item 4): the resumable window stream over a text set (its windows
 * are those of `textSetWindows`, and a stream opened at any saved position continues with exactly the windows an
 * uninterrupted one gives), and the bounded activation buffer (never more than its capacity, each appended row
 * handed out exactly once with its hooks kept together, seeded draws, a restored snapshot continues identically).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ActivationBuffer } from '../../src-main/engine/sae/activationBuffer.ts';
import { Rng } from '../../src-main/engine/random.ts';
import {
  asciiTokenizer,
  gpt2Tokenizer,
  textSetWindows,
  type Tokenizer,
} from '../../src-main/engine/text/index.ts';
import { WindowStream } from '../../src-main/engine/text/windowStream.ts';
import type { TensorEntry } from '../../src-main/engine/io/safetensors.ts';

let tmp: string;
let folder: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sae-stream-'));
  folder = path.join(tmp, 'set');
  fs.mkdirSync(path.join(folder, 'b'), { recursive: true });
  const para = (i: number) =>
    `Paragraph ${i}: the quick brown fox — café ${i * 7}.\nIt jumps over ${i} dogs.`;
  fs.writeFileSync(path.join(folder, 'a.txt'), Array.from({ length: 60 }, (_, i) => para(i)).join('\n'));
  fs.writeFileSync(
    path.join(folder, 'b', 'c.jsonl'),
    Array.from({ length: 25 }, (_, i) => JSON.stringify({ text: para(100 + i), id: i })).join('\n') + '\n',
  );
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const READ = { readBytes: 200 }; // many pieces per file

describe('window stream', () => {
  for (const [name, tok] of [
    ['GPT-2 BPE', gpt2Tokenizer],
    ['characters', asciiTokenizer],
  ] as [string, Tokenizer][])
    it(`gives the windows of textSetWindows, and resumes at every position to the same windows (${name})`, () => {
      const L = 13;
      const expected = [...textSetWindows(folder, tok, { windowLength: L, ...READ })].map((w) =>
        Array.from(w),
      );
      expect(expected.length).toBeGreaterThan(40);
      const s = new WindowStream(folder, tok, undefined, READ);
      const got: number[][] = [];
      const positions = [s.position()];
      for (let w = s.next(L); w; w = s.next(L)) {
        got.push(Array.from(w));
        positions.push(s.position());
      }
      expect(got).toEqual(expected);
      expect(positions.at(-1)!.piece).toBeGreaterThan(5); // the set really came in pieces
      // From each saved position, the rest of the stream.
      for (let i = 0; i < positions.length; i += 7) {
        const resumed = new WindowStream(folder, tok, positions[i], READ);
        const rest: number[][] = [];
        for (let w = resumed.next(L); w; w = resumed.next(L)) rest.push(Array.from(w));
        expect(rest, `resumed at window ${i}`).toEqual(expected.slice(i));
      }
    });

  it('refuses a position the text set does not have (it changed since)', () => {
    expect(() => new WindowStream(folder, gpt2Tokenizer, { piece: 10_000, offset: 0 }, READ)).toThrow(
      /text set .* has only \d+ pieces, but the saved position is in piece 10000: the text set changed/,
    );
    expect(() => new WindowStream(folder, gpt2Tokenizer, { piece: 0, offset: 99_999 }, READ)).toThrow(
      /piece 0 of text set .* has \d+ tokens, fewer than the saved offset 99999: the text set changed/,
    );
  });
});

/** Rows whose values say which row and hook they are: row r of hook h is [r, r + 0.25·h, …]. */
function rows(first: number, n: number, hooks: string[], D: number): Record<string, Float32Array> {
  return Object.fromEntries(
    hooks.map((h, i) => {
      const a = new Float32Array(n * D);
      for (let r = 0; r < n; r++) for (let d = 0; d < D; d++) a[r * D + d] = first + r + 0.25 * i + d * 1e-3;
      return [h, a];
    }),
  );
}

describe('activation buffer', () => {
  const hooks = ['blocks.0.hook_resid_mid', 'blocks.0.hook_resid_post'];
  const D = 4;

  /** Refill-and-draw as the streamed trainer does it: appends batches of `C` rows while they fit, takes `m`. */
  function drain(
    buf: ActivationBuffer,
    C: number,
    m: number,
    draws: number,
    seed: number,
    next = { row: 0 },
  ) {
    const out: number[][] = [];
    for (let t = 0; t < draws; t++) {
      while (buf.count + C <= buf.capacity) {
        buf.append(rows(next.row, C, hooks, D));
        next.row += C;
        expect(buf.count).toBeLessThanOrEqual(buf.capacity);
      }
      const got = buf.take(m, Rng.derive(seed, 'draw', t));
      const ids: number[] = [];
      for (let r = 0; r < m; r++) {
        const id = got[hooks[0]][r * D];
        // every hook's row r is the same token, every coordinate intact
        hooks.forEach((h, i) => {
          for (let d = 0; d < D; d++) expect(got[h][r * D + d]).toBe(Math.fround(id + 0.25 * i + d * 1e-3));
        });
        ids.push(id);
      }
      out.push(ids);
    }
    return out;
  }

  it('holds at most its capacity, allocated once, and hands out every appended row exactly once', () => {
    const buf = new ActivationBuffer(hooks, D, 40);
    expect(buf.bytes).toBe(40 * 2 * D * 4);
    const next = { row: 0 };
    const draws = drain(buf, 8, 12, 30, 1, next).flat();
    // what is still held, taken out to the last row
    const rest = buf.take(buf.count, new Rng(5));
    for (let r = 0; r < rest[hooks[0]].length / D; r++) draws.push(rest[hooks[0]][r * D]);
    expect(draws.length).toBe(next.row);
    expect([...draws].sort((a, b) => a - b)).toEqual(Array.from({ length: next.row }, (_, i) => i));
    expect(buf.count).toBe(0);
  });

  it('mixes: a draw takes rows from many refills, not the last one', () => {
    const buf = new ActivationBuffer(hooks, D, 64);
    const draws = drain(buf, 8, 16, 20, 2);
    const refillsPerDraw = draws.slice(5).map((ids) => new Set(ids.map((i) => Math.floor(i / 8))).size);
    expect(Math.min(...refillsPerDraw)).toBeGreaterThanOrEqual(4);
  });

  it('the same seeds draw the same rows; a snapshot restored into a new buffer continues identically', () => {
    const a = new ActivationBuffer(hooks, D, 48);
    const b = new ActivationBuffer(hooks, D, 48);
    const whole = drain(a, 8, 10, 16, 3);
    const next = { row: 0 };
    const first = drain(b, 8, 10, 16, 3, next);
    expect(first).toEqual(whole);

    const c = new ActivationBuffer(hooks, D, 48);
    const n2 = { row: 0 };
    const head = drain(c, 8, 10, 7, 3, n2);
    const snap = c.snapshot('buffer.');
    const saved: Record<string, TensorEntry> = Object.fromEntries(
      Object.entries(snap).map(([k, t]) => [
        k,
        { dtype: 'F32', shape: [...t.shape], data: Float32Array.from(t.data as Float32Array) },
      ]),
    );
    const d = new ActivationBuffer(hooks, D, 48);
    d.restore(saved, 'buffer.');
    expect(d.count).toBe(c.count);
    // continue both with draws 7..15 (the generator is seeded per draw, as the trainer seeds it per step)
    const cont = (buf: ActivationBuffer, n: { row: number }) => {
      const out: number[][] = [];
      for (let t = 7; t < 16; t++) {
        while (buf.count + 8 <= buf.capacity) {
          buf.append(rows(n.row, 8, hooks, D));
          n.row += 8;
        }
        const got = buf.take(10, Rng.derive(3, 'draw', t));
        out.push(Array.from({ length: 10 }, (_, r) => got[hooks[0]][r * D]));
      }
      return out;
    };
    const restoredRows = cont(d, { ...n2 });
    const liveRows = cont(c, { ...n2 });
    expect(restoredRows).toEqual(liveRows);
    expect([...head, ...liveRows]).toEqual(whole.slice(0, 16));
  });

  it('refuses what does not fit and snapshots of other hooks or widths', () => {
    const buf = new ActivationBuffer(hooks, D, 10);
    expect(() => buf.append(rows(0, 11, hooks, D))).toThrow(
      'activation buffer: 11 rows do not fit (0 of 10 held)',
    );
    buf.append(rows(0, 6, hooks, D));
    expect(() => buf.take(7, new Rng(1))).toThrow('activation buffer: 7 rows asked for, 6 held');
    const other = new ActivationBuffer(['blocks.1.hook_resid_mid'], D, 10);
    expect(() => other.restore(buf.snapshot('x.') as unknown as Record<string, TensorEntry>, 'x.')).toThrow(
      "the saved activation buffer has no [rows, 4] F32 rows for blocks.1.hook_resid_mid: the run's hooks changed",
    );
    expect(() => new ActivationBuffer(hooks, D, 0)).toThrow(
      'activation buffer capacity must be a positive number of rows (got 0)',
    );
  });
});
