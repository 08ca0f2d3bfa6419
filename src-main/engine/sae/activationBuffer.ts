/**
 * A bounded shuffle buffer of activation rows: row r is one token's activation at every hook (all SAEs of a run
 * see the same tokens, as a JSAE pair needs). The buffer holds at most `capacity` rows, each hook's rows in one
 * Float32Array [capacity, D] allocated once; memory is capacity × hooks × D × 4 bytes whatever the corpus.
 *
 *   append(rows)     rows of a forward pass go to the end                     (count + n ≤ capacity)
 *   take(m, rng)     m rows without replacement, each uniformly among those held:
 *                      j = rng.int(count); emit row j; row j ← row count−1; count −= 1
 *
 * Which rows a micro-batch gets depends only on the buffer's content and the generator, so a run seeded per step
 * and restored from a snapshot draws exactly the rows an uninterrupted run draws.
 */
import type { TensorEntry, TensorInput } from '../io/safetensors.ts';
import type { Rng } from '../random.ts';

export class ActivationBuffer {
  private readonly data: Float32Array[];
  count = 0;

  constructor(
    readonly hooks: string[],
    readonly dModel: number,
    readonly capacity: number,
  ) {
    if (!(Number.isInteger(capacity) && capacity > 0))
      throw new RangeError(`activation buffer capacity must be a positive number of rows (got ${capacity})`);
    this.data = hooks.map(() => new Float32Array(capacity * dModel));
  }

  /** Bytes the buffer holds (allocated up front). */
  get bytes(): number {
    return this.capacity * this.hooks.length * this.dModel * 4;
  }

  get free(): number {
    return this.capacity - this.count;
  }

  /** Appends n rows per hook (`rows[hook]` is [n, D] row-major). */
  append(rows: Record<string, Float32Array>): void {
    const D = this.dModel;
    const n = rows[this.hooks[0]].length / D;
    if (n > this.free)
      throw new Error(`activation buffer: ${n} rows do not fit (${this.count} of ${this.capacity} held)`);
    this.hooks.forEach((h, i) => {
      const src = rows[h];
      if (!src || src.length !== n * D)
        throw new Error(`activation buffer: rows for ${h} must be [${n}, ${D}] like the others`);
      this.data[i].set(src, this.count * D);
    });
    this.count += n;
  }

  /** m rows drawn without replacement (see the header), [m, D] per hook. */
  take(m: number, rng: Rng): Record<string, Float32Array> {
    if (m > this.count) throw new Error(`activation buffer: ${m} rows asked for, ${this.count} held`);
    const D = this.dModel;
    const out = this.hooks.map(() => new Float32Array(m * D));
    for (let i = 0; i < m; i++) {
      const j = rng.int(this.count);
      const lastRow = this.count - 1;
      for (let h = 0; h < this.hooks.length; h++) {
        const d = this.data[h];
        out[h].set(d.subarray(j * D, (j + 1) * D), i * D);
        if (j !== lastRow) d.copyWithin(j * D, lastRow * D, (lastRow + 1) * D);
      }
      this.count = lastRow;
    }
    return Object.fromEntries(this.hooks.map((h, i) => [h, out[i]]));
  }

  /** The rows held, per hook [count, D] (views, valid until the buffer changes), for a training-state file. */
  snapshot(prefix: string): Record<string, TensorInput> {
    const D = this.dModel;
    return Object.fromEntries(
      this.hooks.map((h, i) => [
        `${prefix}${h}`,
        { dtype: 'F32', shape: [this.count, D], data: this.data[i].subarray(0, this.count * D) },
      ]),
    );
  }

  /** Puts back the rows of a snapshot (same hooks and width; at most the capacity). */
  restore(entries: Record<string, TensorEntry>, prefix: string): void {
    const D = this.dModel;
    let n = -1;
    this.hooks.forEach((h, i) => {
      const e = entries[`${prefix}${h}`];
      if (!e || e.dtype !== 'F32' || e.shape.length !== 2 || e.shape[1] !== D)
        throw new Error(
          `the saved activation buffer has no [rows, ${D}] F32 rows for ${h}: the run's hooks changed`,
        );
      if (n >= 0 && e.shape[0] !== n)
        throw new Error('the saved activation buffer holds different row counts per hook');
      n = e.shape[0];
      if (n > this.capacity)
        throw new Error(
          `the saved activation buffer holds ${n} rows, more than its capacity ${this.capacity}`,
        );
      this.data[i].set(e.data as Float32Array);
    });
    this.count = Math.max(n, 0);
  }
}
