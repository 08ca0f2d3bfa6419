/**
 * SCALAR's memory bound (`--max-memory-mb`, config `maxMemoryMb`) and what a pair really used.
 *
 * MemoryBudget is an account, not a measurement: the pair's computation declares every large buffer it makes
 * (host typed arrays, tensors, and the tfjs temporaries of a pass, from their shapes) before making it, and
 * sizes its chunks (attribution batches, column blocks, evaluation sequences, unit batches) so that the
 * declared total never passes the bound. Something that cannot fit even at the smallest chunk is refused with
 * a MemoryBoundError naming it and its size. The peak of the account is what the tests check.
 *
 * MemorySampler measures: the process's resident set (RSS, every thread), the V8 heap, external memory, the
 * bytes tfjs holds in tensors (tf.memory().numBytes: the wasm heap's tensors on wasm, GPU buffers on webgpu)
 * and, on wasm, the size of its heap — sampled every 100 ms and at each phase boundary; peaks are reported.
 */
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';

export const MB = 2 ** 20;

export const mb = (bytes: number) => Math.round((bytes / MB) * 10) / 10;

export class MemoryBoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MemoryBoundError';
  }
}

/** The bound when none is set: 60 % of this machine's memory (recorded with the run like a given one). */
export function defaultMemoryBoundMb(): number {
  return Math.floor((os.totalmem() * 0.6) / MB);
}

export class MemoryBudget {
  private current = 0;
  private top = 0;
  private readonly held = new Map<string, number>();
  /** The largest reservations, for the error message and the run record. */
  private readonly largest = new Map<string, number>();

  constructor(readonly boundBytes: number) {
    if (!(boundBytes > 0)) throw new Error(`memory bound must be positive (got ${boundBytes} bytes)`);
  }

  static mb(boundMb: number): MemoryBudget {
    return new MemoryBudget(boundMb * MB);
  }

  get peak(): number {
    return this.top;
  }

  get used(): number {
    return this.current;
  }

  available(): number {
    return this.boundBytes - this.current;
  }

  /**
   * Declares `bytes` under `what` (released with `release(what)`); throws when the bound would be passed.
   * A name may be reserved again after its release (chunk loops reuse names).
   */
  reserve(what: string, bytes: number): void {
    if (this.held.has(what)) throw new Error(`memory account: '${what}' is already reserved`);
    const b = Math.max(0, Math.ceil(bytes));
    if (this.current + b > this.boundBytes)
      throw new MemoryBoundError(
        `${what} needs ${mb(b)} MB but only ${mb(this.available())} MB of the ${mb(this.boundBytes)} MB bound ` +
          `are left (held: ${this.describeHeld()}); raise --max-memory-mb`,
      );
    this.held.set(what, b);
    this.current += b;
    this.top = Math.max(this.top, this.current);
    this.largest.set(what, Math.max(this.largest.get(what) ?? 0, b));
  }

  release(what: string): void {
    const b = this.held.get(what);
    if (b === undefined) return;
    this.held.delete(what);
    this.current -= b;
  }

  /** Runs `fn` with `bytes` reserved under `what`, released afterwards (also on errors). */
  async with<T>(what: string, bytes: number, fn: () => Promise<T> | T): Promise<T> {
    this.reserve(what, bytes);
    try {
      return await fn();
    } finally {
      this.release(what);
    }
  }

  /**
   * The largest count c ≤ max with c · perItem bytes (plus `fixed`) inside what is left of the bound, keeping
   * `headroom` free for what follows; at least 1, else a MemoryBoundError saying what a single item needs.
   */
  largestCount(what: string, perItem: number, max: number, fixed = 0, headroom = 0): number {
    const room = this.available() - fixed - headroom;
    const c = Math.min(max, Math.floor(room / Math.max(1, perItem)));
    if (c < 1)
      throw new MemoryBoundError(
        `one ${what} needs ${mb(perItem + fixed)} MB but only ${mb(this.available() - headroom)} MB of the ` +
          `${mb(this.boundBytes)} MB bound are left (held: ${this.describeHeld()}); raise --max-memory-mb`,
      );
    return c;
  }

  private describeHeld(): string {
    const items = [...this.held.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4);
    return items.length ? items.map(([k, v]) => `${k} ${mb(v)} MB`).join(', ') : 'nothing';
  }

  /** The largest reservation of each name, in MB, largest first (for the run record). */
  breakdown(limit = 8): Record<string, number> {
    return Object.fromEntries(
      [...this.largest.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, limit)
        .map(([k, v]) => [k, mb(v)]),
    );
  }
}

export interface MemoryPeaks {
  /** Resident set of the whole process (all threads), MB: sampled, or getrusage's maximum if it grew meanwhile. */
  rss_mb: number;
  heap_used_mb: number;
  /** Memory outside the V8 heap (ArrayBuffers, the wasm heap), MB. */
  external_mb: number;
  /** Bytes tfjs holds in tensors on this thread's backend, MB (GPU buffers on webgpu). */
  tensor_mb: number;
  /** The tfjs-wasm heap's size on this thread, MB (wasm only; it grows and never shrinks). */
  wasm_heap_mb: number | null;
  /** The process's lifetime maximum RSS (getrusage), MB. */
  max_rss_lifetime_mb: number;
}

function wasmHeapBytes(): number | null {
  const b = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  return b.wasm?.HEAPU8 ? b.wasm.HEAPU8.byteLength : null;
}

/**
 * Peaks of the measured memory figures over the sampler's life (every 100 ms and at each `sample()`). Long
 * synchronous loops hold the timer back, so the RSS peak also reads the kernel's lifetime maximum (getrusage):
 * if that grew while the sampler ran, the growth happened then, and it is the peak.
 */
export class MemorySampler {
  private peaks = { rss: 0, heap: 0, external: 0, tensors: 0, wasm: 0 };
  private readonly maxRssAtStart = process.resourceUsage().maxRSS * 1024;
  private timer: NodeJS.Timeout | null;
  /** RSS at each named phase's end, MB. */
  readonly phases: Record<string, number> = {};

  constructor(intervalMs = 100) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(phase?: string): void {
    const m = process.memoryUsage();
    const p = this.peaks;
    p.rss = Math.max(p.rss, m.rss);
    p.heap = Math.max(p.heap, m.heapUsed);
    p.external = Math.max(p.external, m.external);
    p.tensors = Math.max(p.tensors, tf.memory().numBytes);
    p.wasm = Math.max(p.wasm, wasmHeapBytes() ?? 0);
    if (phase) this.phases[phase] = mb(m.rss);
  }

  stop(): MemoryPeaks {
    this.sample();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const p = this.peaks;
    const maxRss = process.resourceUsage().maxRSS * 1024;
    return {
      rss_mb: mb(maxRss > this.maxRssAtStart ? Math.max(p.rss, maxRss) : p.rss),
      heap_used_mb: mb(p.heap),
      external_mb: mb(p.external),
      tensor_mb: mb(p.tensors),
      wasm_heap_mb: wasmHeapBytes() === null ? null : mb(p.wasm),
      max_rss_lifetime_mb: mb(process.resourceUsage().maxRSS * 1024),
    };
  }
}
