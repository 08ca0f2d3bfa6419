/**
 * One SCALAR pair's edges, loaded by rank as the budget asks for them: `ensure(n)` fetches only the ranks not
 * yet loaded (up to the next power of two above n, so small slider moves need no request), never more than
 * 65,536 per request, and keeps node info (frequency, label, top tokens) for every latent seen so far.
 */
import type { z } from 'zod';
import type { GraphEdgesResultSchema, GraphNodeSchema } from '../../../src-shared/latents.ts';

export type GraphNode = z.infer<typeof GraphNodeSchema>;
export type GraphEdgesResult = z.infer<typeof GraphEdgesResultSchema>;

export interface EdgeRequest {
  offset: number;
  n: number;
}

/** Fetches ranks [offset, offset + n) of the pair (the Api's `graph.edges`). */
export type FetchEdges = (req: EdgeRequest) => Promise<GraphEdgesResult>;

export const MAX_EDGES_PER_REQUEST = 65_536;

export function nextPow2(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n));
}

export class PairEdges {
  i = new Int32Array(0);
  j = new Int32Array(0);
  score = new Float32Array(0);
  /** Ranks [0, loaded) are here. */
  loaded = 0;
  /** Node info per latent of the upstream and downstream hook. */
  readonly up = new Map<number, GraphNode>();
  readonly down = new Map<number, GraphNode>();
  /** The rank of each latent's first (strongest) edge: its place in the column layout. */
  readonly firstUp = new Map<number, number>();
  readonly firstDown = new Map<number, number>();
  /** The SAE run of the pair's latents and its two hooks' widths (known with the first response). */
  saeRun: string | null = null;
  upWidth: number | null = null;
  downWidth: number | null = null;
  /** Requests made (for tests and the bench: only missing ranks are fetched). */
  readonly requests: EdgeRequest[] = [];
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly fetchEdges: FetchEdges,
    /** Edges stored for the pair (the slider's end). */
    readonly stored: number,
  ) {}

  /** Loads ranks up to at least min(n, stored); resolves once they are here. */
  ensure(n: number): Promise<void> {
    const want = Math.min(this.stored, Math.max(0, n));
    if (want <= this.loaded) return Promise.resolve();
    this.pending = this.pending.then(() => this.fetchUpTo(want));
    return this.pending;
  }

  private async fetchUpTo(want: number): Promise<void> {
    if (want <= this.loaded) return;
    const target = Math.min(this.stored, Math.max(want, nextPow2(want)));
    while (this.loaded < target) {
      const req = { offset: this.loaded, n: Math.min(MAX_EDGES_PER_REQUEST, target - this.loaded) };
      this.requests.push(req);
      const r = await this.fetchEdges(req);
      this.append(r);
      if (r.edges.i.length === 0) break;
    }
  }

  /** Adds a response's edges (ranks from r.offset, which must be `loaded`) and node info. */
  append(r: GraphEdgesResult): void {
    const count = r.edges.i.length;
    if (r.offset !== this.loaded)
      throw new Error(`edges from rank ${r.offset} arrived, expected ${this.loaded}`);
    const size = this.loaded + count;
    if (size > this.i.length) {
      const cap = Math.max(size, this.i.length * 2, 256);
      const grow = <T extends Int32Array | Float32Array>(a: T, make: (n: number) => T) => {
        const b = make(cap);
        b.set(a.subarray(0, this.loaded));
        return b;
      };
      this.i = grow(this.i, (c) => new Int32Array(c));
      this.j = grow(this.j, (c) => new Int32Array(c));
      this.score = grow(this.score, (c) => new Float32Array(c));
    }
    for (let k = 0; k < count; k++) {
      const rank = this.loaded + k;
      const i = r.edges.i[k];
      const j = r.edges.j[k];
      this.i[rank] = i;
      this.j[rank] = j;
      this.score[rank] = r.edges.score[k];
      if (!this.firstUp.has(i)) this.firstUp.set(i, rank);
      if (!this.firstDown.has(j)) this.firstDown.set(j, rank);
    }
    this.saeRun = r.up.run;
    this.upWidth = r.up.width;
    this.downWidth = r.down.width;
    for (const node of r.up.nodes) this.up.set(node.id, node);
    for (const node of r.down.nodes) this.down.set(node.id, node);
    this.loaded = size;
  }

  /** Updates a latent's label wherever it is cached (after the user labels it). */
  relabel(side: 'up' | 'down', id: number, label: string | null): void {
    const nodes = side === 'up' ? this.up : this.down;
    const node = nodes.get(id);
    if (node) nodes.set(id, { ...node, label });
  }
}
