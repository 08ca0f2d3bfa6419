/**
 * The explorer's state in the URL: `#/circuit?run=<scalar run>&pair=tblock:0[,tblock:1]&n=1024&pins=0:12,1:40
 * &sel=a:1:40&ids=3,10-12&label=…&from=0&to=1&only=pinned&colour=chunk&b=<scalar run>&sync=kl`. Pins and the
 * selection name latents as `column:latent` (column 0 = the chain's first hook).
 */
import { href } from '../../lib/router.svelte.ts';
import type { ColourBy } from './graphModel.ts';
import { nodeKey, parseNodeKey } from './graphModel.ts';

export type SyncMode = 'n' | 'kl';

export interface CircuitState {
  run: string;
  pair: string;
  b: string | null;
  n: number | null;
  pins: Set<string>;
  /** Selected node key and the side it is on. */
  sel: { side: 'a' | 'b'; key: string } | null;
  ids: string;
  label: string;
  from: number | null;
  to: number | null;
  pinnedOnly: boolean;
  colour: ColourBy;
  sync: SyncMode;
}

const int = (v: string | null): number | null => {
  if (v === null || v === '') return null;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 ? n : null;
};

const fromUrlKey = (s: string): string | null => {
  const m = /^(\d+):(\d+)$/.exec(s.trim());
  return m ? nodeKey(Number(m[1]), Number(m[2])) : null;
};

const toUrlKey = (key: string): string => {
  const k = parseNodeKey(key);
  return k ? `${k.col}:${k.latent}` : key;
};

export function readState(params: URLSearchParams): CircuitState {
  const pins = new Set(
    (params.get('pins') ?? '')
      .split(',')
      .map(fromUrlKey)
      .filter((k): k is string => k !== null),
  );
  const selMatch = /^([ab]):(\d+:\d+)$/.exec(params.get('sel') ?? '');
  const selKey = selMatch ? fromUrlKey(selMatch[2]) : null;
  return {
    run: params.get('run') ?? '',
    pair: params.get('pair') ?? '',
    b: params.get('b') || null,
    n: int(params.get('n')),
    pins,
    sel: selMatch && selKey ? { side: selMatch[1] as 'a' | 'b', key: selKey } : null,
    ids: params.get('ids') ?? '',
    label: params.get('label') ?? '',
    from: int(params.get('from')),
    to: int(params.get('to')),
    pinnedOnly: params.get('only') === 'pinned',
    colour: params.get('colour') === 'chunk' ? 'chunk' : 'position',
    sync: params.get('sync') === 'kl' ? 'kl' : 'n',
  };
}

export function stateParams(s: CircuitState): Record<string, string | number | null> {
  return {
    run: s.run,
    pair: s.pair,
    b: s.b,
    n: s.n,
    pins: [...s.pins].map(toUrlKey).join(','),
    sel: s.sel ? `${s.sel.side}:${toUrlKey(s.sel.key)}` : null,
    ids: s.ids,
    label: s.label,
    from: s.from,
    to: s.to,
    only: s.pinnedOnly ? 'pinned' : null,
    colour: s.colour === 'chunk' ? 'chunk' : null,
    sync: s.b && s.sync === 'kl' ? 'kl' : null,
  };
}

export function circuitHref(p: {
  run: string;
  pair: string;
  b?: string | null;
  n?: number | null;
  pins?: string;
}): string {
  return href('/circuit', { run: p.run, pair: p.pair, b: p.b, n: p.n, pins: p.pins });
}

export function latentHref(run: string, hook: string, id: number): string {
  return href('/latent', { run, hook, id });
}
