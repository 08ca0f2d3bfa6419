/** A latent page as files: its contexts as CSV (one row per token of each context). */
import type { LatentDetail } from '../../../src-shared/latents.ts';

export function latentFileStem(d: Pick<LatentDetail, 'run' | 'hook' | 'id'>): string {
  return `latent-${d.run}-${d.hook}-${d.id}`.replace(/[^\w.+-]+/g, '-');
}

const cell = (v: string | number) => {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** kind, bucket, context, seq, pos, token index, token, token id, activation, is the activating token. */
export function contextsCsv(d: LatentDetail): string {
  const rows: (string | number)[][] = [
    ['kind', 'bucket', 'context', 'seq', 'pos', 'index', 'token', 'token_id', 'activation', 'center'],
  ];
  const add = (kind: string, bucket: number | '', k: number, c: LatentDetail['topContexts'][number]) =>
    c.tokens.forEach((t, i) =>
      rows.push([
        kind,
        bucket,
        k,
        c.seq,
        c.pos - c.center + i,
        i,
        t,
        c.ids[i],
        c.acts[i],
        i === c.center ? 1 : 0,
      ]),
    );
  d.topContexts.forEach((c, k) => add('top', '', k, c));
  for (const q of d.quantiles) q.contexts.forEach((c, k) => add('quantile', q.bucket, k, c));
  return `${rows.map((r) => r.map(cell).join(',')).join('\n')}\n`;
}
