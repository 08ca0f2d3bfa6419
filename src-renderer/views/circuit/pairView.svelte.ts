/**
 * One SCALAR run's side of the explorer: its curves and edges for a chain of pairs (one pair, or a setup's pairs
 * in order), the columns (hooks) they span, and loading the budget's edges. Used once in the single view and
 * twice in A/B.
 */
import type { z } from 'zod';
import type { GraphCurveResultSchema } from '../../../src-shared/latents.ts';
import type { ApiClient } from '../../lib/api.ts';
import { PairEdges } from './edges.ts';
import type { ChainPair, Column } from './graphModel.ts';

export type GraphCurve = z.infer<typeof GraphCurveResultSchema>;

/** `tblock:0,tblock:1` → labels in chain order (by the pair's index). */
export function parsePairs(text: string): string[] {
  const labels = text
    .split(',')
    .map((s) => s.trim())
    .filter((s, k, all) => s !== '' && all.indexOf(s) === k);
  const index = (l: string) => Number(/:(\d+)$/.exec(l)?.[1] ?? 0);
  return labels.sort((a, b) => index(a) - index(b));
}

export class PairView {
  curves = $state.raw<GraphCurve[]>([]);
  columns = $state.raw<Column[]>([]);
  chain = $state.raw<ChainPair[]>([]);
  error = $state<string | null>(null);
  ready = $state(false);
  /** Bumped whenever more edges arrived (the graph model re-derives). */
  version = $state(0);
  /** The SAE run whose latents the columns show. */
  saeRun = $state<string | null>(null);

  constructor(
    private readonly api: ApiClient,
    readonly run: string,
    readonly pairs: string[],
  ) {}

  /** The slider's end: the fewest stored edges among the chain's pairs. */
  get maxN(): number {
    return this.curves.length ? Math.min(...this.curves.map((c) => c.storedEdges)) : 0;
  }

  async init(): Promise<void> {
    try {
      const curves = await Promise.all(
        this.pairs.map((pair) => this.api.call('graph.curve', { run: this.run, pair })),
      );
      const hooks: string[] = [];
      for (const c of curves) for (const h of [c.up, c.down]) if (h && !hooks.includes(h)) hooks.push(h);
      this.chain = curves.map((c) => ({
        label: c.pair,
        up: hooks.indexOf(c.up ?? ''),
        down: hooks.indexOf(c.down ?? ''),
        edges: new PairEdges(
          ({ offset, n }) =>
            this.api.call('graph.edges', { run: this.run, pair: c.pair, offset, n, nodes: true }),
          c.storedEdges,
        ),
      }));
      this.columns = hooks.map((hook) => ({ hook, run: '' }));
      this.curves = curves;
      this.ready = true;
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    }
  }

  /** Loads every pair's edges up to `n`; the graph follows when they are here. */
  async ensure(n: number): Promise<void> {
    if (!this.ready || this.error || this.has(n, 0)) return;
    const before = this.chain.map((p) => p.edges.loaded);
    try {
      await Promise.all(this.chain.map((p) => p.edges.ensure(n)));
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
      return;
    }
    if (this.chain.some((p, k) => p.edges.loaded !== before[k])) {
      if (!this.saeRun) {
        const first = this.chain[0].edges;
        this.saeRun = first.saeRun;
        this.columns = this.columns.map((c) => ({ ...c, run: first.saeRun ?? '' }));
      }
      this.version++;
    }
  }

  /** Latents of the chain's hooks (each column once), or null until the first edges arrived. */
  latents(version: number): number | null {
    void version;
    let total = 0;
    for (let col = 0; col < this.columns.length; col++) {
      const p = this.chain.find((x) => x.up === col || x.down === col);
      const width = p ? (p.up === col ? p.edges.upWidth : p.edges.downWidth) : null;
      if (width === null) return null;
      total += width;
    }
    return total;
  }

  /** Whether every pair has its edges up to `n` (pass `version` so a derived re-reads after loads). */
  has(n: number, version: number): boolean {
    void version;
    return this.chain.every((p) => p.edges.loaded >= Math.min(n, p.edges.stored));
  }

  /** After a label changed on the latent page or here: every cached copy shows it. */
  relabel(col: number, latent: number, label: string | null): void {
    for (const p of this.chain) {
      if (p.up === col) p.edges.relabel('up', latent, label);
      if (p.down === col) p.edges.relabel('down', latent, label);
    }
    this.version++;
  }
}
