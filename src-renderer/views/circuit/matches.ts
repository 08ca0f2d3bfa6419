/** Latent matching of two SAE runs at one hook (`latents.matches`, computed by the server on first request). */
import type { ApiClient } from '../../lib/api.ts';
import type { ColumnMatch } from './abDiff.ts';

export interface MatchInfo extends ColumnMatch {
  hook: string;
  method: string;
  matched: number;
  widthA: number;
  widthB: number;
  meanCos: number;
}

export async function loadColumnMatch(
  api: ApiClient,
  runA: string,
  runB: string,
  hook: string,
): Promise<MatchInfo> {
  const aToB = new Map<number, number>();
  const bToA = new Map<number, number>();
  const cos = new Map<number, number>();
  let offset = 0;
  for (;;) {
    const page = await api.call('latents.matches', {
      runA,
      runB,
      hook,
      sort: 'a',
      desc: false,
      offset,
      limit: 500,
    });
    for (const r of page.rows) {
      aToB.set(r.a, r.b);
      bToA.set(r.b, r.a);
      cos.set(r.a, r.cos);
    }
    offset += page.rows.length;
    if (page.rows.length === 0 || offset >= page.total)
      return {
        hook,
        aToB,
        bToA,
        cos,
        method: page.method,
        matched: page.matched,
        widthA: page.widthA,
        widthB: page.widthB,
        meanCos: page.meanCos,
      };
  }
}
