/**
 * Sparse TopK codes of every evaluation token spilled to a scratch file, one per SAE, so the context windows
 * can be read back after the statistics pass without keeping N·k codes in memory. Row layout per token:
 * k int32 latent ids, then k float32 values (8k bytes); rows in token order.
 */
import fs from 'node:fs';

export class CodeSpill {
  private readonly fd: number;
  private rows = 0;
  private closedForWrite = false;

  constructor(
    readonly file: string,
    readonly k: number,
  ) {
    this.fd = fs.openSync(file, 'w+');
  }

  get tokens(): number {
    return this.rows;
  }

  /** Appends the codes of n tokens (idx/val [n, k]). */
  append(idx: ArrayLike<number>, val: ArrayLike<number>): void {
    if (this.closedForWrite) throw new Error('CodeSpill: append after reading started');
    const k = this.k;
    const n = idx.length / k;
    const buf = Buffer.alloc(n * 8 * k);
    const i32 = new Int32Array(buf.buffer, buf.byteOffset, (n * 8 * k) / 4);
    const f32 = new Float32Array(buf.buffer, buf.byteOffset, (n * 8 * k) / 4);
    for (let t = 0; t < n; t++) {
      for (let s = 0; s < k; s++) {
        i32[t * 2 * k + s] = idx[t * k + s];
        f32[t * 2 * k + k + s] = val[t * k + s];
      }
    }
    fs.writeSync(this.fd, buf, 0, buf.length, this.rows * 8 * k);
    this.rows += n;
  }

  /** Codes of tokens [first, first + n). */
  read(first: number, n: number): { idx: Int32Array; val: Float32Array } {
    this.closedForWrite = true;
    const k = this.k;
    if (first < 0 || first + n > this.rows)
      throw new Error(`CodeSpill: rows ${first}..${first + n} out of range`);
    const buf = Buffer.alloc(n * 8 * k);
    fs.readSync(this.fd, buf, 0, buf.length, first * 8 * k);
    const i32 = new Int32Array(buf.buffer, buf.byteOffset, (n * 8 * k) / 4);
    const f32 = new Float32Array(buf.buffer, buf.byteOffset, (n * 8 * k) / 4);
    const idx = new Int32Array(n * k);
    const val = new Float32Array(n * k);
    for (let t = 0; t < n; t++) {
      for (let s = 0; s < k; s++) {
        idx[t * k + s] = i32[t * 2 * k + s];
        val[t * k + s] = f32[t * 2 * k + k + s];
      }
    }
    return { idx, val };
  }

  private disposed = false;

  /** Closes and deletes the file (once: a closed descriptor number may already belong to another file). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    fs.closeSync(this.fd);
    fs.rmSync(this.file, { force: true });
  }
}
