/**
 * The A/B diff as reactive state: same SAEs → edges compared by (i, j); different SAEs → each column's latents
 * matched by decoder cosine (`latents.matches`, loaded once both SAE runs are known) and edges compared in A's
 * latents, unmatched latents and edges marked. Classes feed the graph; counts feed the summary.
 */
import type { ApiClient } from '../../lib/api.ts';
import { addCounts, diffPair, type DiffCounts, type PairDiff } from './abDiff.ts';
import type { Decorations } from './graphModel.ts';
import { loadColumnMatch, type MatchInfo } from './matches.ts';
import type { PairView } from './pairView.svelte.ts';

export class DiffState {
  matches = $state.raw<MatchInfo[] | null>(null);
  matchError = $state<string | null>(null);
  /** A and B are SCALAR runs of the same SAE run (edges compare by latent id). */
  readonly sameSae: boolean;
  /** Both SAE runs known and (for different ones) the matching loaded. */
  readonly ready: boolean;
  readonly diffs: PairDiff[] | null;
  readonly counts: DiffCounts | null;
  readonly decoA: Decorations;
  readonly decoB: Decorations;

  constructor(
    private readonly api: ApiClient,
    private readonly a: PairView,
    private readonly b: PairView | null,
    private readonly n: () => number,
    private readonly nB: () => number,
  ) {
    this.sameSae = $derived(!!this.b && this.a.saeRun !== null && this.b.saeRun === this.a.saeRun);
    this.ready = $derived(
      !!this.b && this.a.saeRun !== null && this.b.saeRun !== null && (this.sameSae || this.matches !== null),
    );

    this.diffs = $derived.by<PairDiff[] | null>(() => {
      const b = this.b;
      if (!b || !this.ready) return null;
      void this.a.version;
      void b.version;
      const n = this.n();
      const nB = this.nB();
      return this.a.chain.map((pa, k) => {
        const pb = b.chain[k];
        if (!pb) return { a: [], b: [], counts: addCounts([]) };
        const m = this.sameSae ? null : this.matches;
        return diffPair(
          { i: pa.edges.i, j: pa.edges.j, n: Math.min(n, pa.edges.loaded) },
          { i: pb.edges.i, j: pb.edges.j, n: Math.min(nB, pb.edges.loaded) },
          m ? m[pa.up] : null,
          m ? m[pa.down] : null,
        );
      });
    });

    this.counts = $derived<DiffCounts | null>(this.diffs ? addCounts(this.diffs.map((d) => d.counts)) : null);

    this.decoA = $derived.by<Decorations>(() => {
      const diffs = this.diffs;
      const m = this.sameSae ? null : this.matches;
      return {
        edgeClass: diffs ? (pair, rank) => diffs[pair]?.a[rank] ?? '' : undefined,
        nodeClass: m ? (col, latent) => (m[col] && !m[col].aToB.has(latent) ? 'unmatched' : '') : undefined,
      };
    });

    this.decoB = $derived.by<Decorations>(() => {
      const diffs = this.diffs;
      const m = this.sameSae ? null : this.matches;
      return {
        edgeClass: diffs ? (pair, rank) => diffs[pair]?.b[rank] ?? '' : undefined,
        nodeClass: m ? (col, latent) => (m[col] && !m[col].bToA.has(latent) ? 'unmatched' : '') : undefined,
      };
    });
    $effect(() => {
      const saeA = this.a.saeRun;
      const saeB = this.b?.saeRun;
      if (!saeA || !saeB || saeA === saeB || this.matches) return;
      const hooks = this.a.columns.map((c) => c.hook);
      void Promise.all(hooks.map((hook) => loadColumnMatch(this.api, saeA, saeB, hook))).then(
        (ms) => (this.matches = ms),
        (err) => (this.matchError = err instanceof Error ? err.message : String(err)),
      );
    });
  }

  /** The tooltip line about a latent's match in the other run. */
  nodeNote(side: 'a' | 'b', col: number, latent: number): string {
    const m = this.sameSae ? null : this.matches?.[col];
    if (!m) return '';
    if (side === 'a') {
      const other = m.aToB.get(latent);
      return other === undefined
        ? 'no match in B'
        : `matched with B #${other} (cos ${m.cos.get(latent)?.toFixed(3) ?? '—'})`;
    }
    const other = m.bToA.get(latent);
    return other === undefined
      ? 'no match in A'
      : `matched with A #${other} (cos ${m.cos.get(other)?.toFixed(3) ?? '—'})`;
  }
}

export function useDiff(
  api: ApiClient,
  a: PairView,
  b: PairView | null,
  n: () => number,
  nB: () => number,
): DiffState {
  return new DiffState(api, a, b, n, nB);
}
