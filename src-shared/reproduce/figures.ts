/**
 * The reproduction's figures: per setup, the % reduction vs TopK per pair — ours (seed mean, band = 95 % CI) beside
 * the published table — for the relative and the absolute score. Built with the shared line chart, so the report's
 * files (Node, linkedom) and the app's page draw the same thing.
 */
import type { ChartSeries, LineOptions } from '../figures/line.ts';
import type { ReproduceReport } from './report.ts';

export interface ReproduceFigure {
  name: string;
  title: string;
  series: ChartSeries[];
  options: LineOptions;
}

export function reproduceFigures(r: Pick<ReproduceReport, 'pairs'>): ReproduceFigure[] {
  const out: ReproduceFigure[] = [];
  const cells = [...new Set(r.pairs.map((p) => `${p.setup}|${p.arch}`))];
  for (const cell of cells) {
    const [setup, arch] = cell.split('|');
    const all = r.pairs.filter((p) => p.setup === setup && p.arch === arch).sort((a, b) => a.pair - b.pair);
    // Reports written before circuit-target rows existed have no target: they are against the model.
    const rows = all.filter((p) => (p.target ?? 'model') === 'model');
    const circuitRows = all.filter((p) => p.target === 'circuit');
    for (const which of ['rel', 'abs'] as const) {
      const word = which === 'rel' ? 'relative' : 'absolute';
      const points = (ps: typeof rows) =>
        ps
          .filter((p) => p[which].mean !== null)
          .map((p) => ({
            x: p.pair,
            y: p[which].mean!,
            lo: p[which].ci?.[0] ?? null,
            hi: p[which].ci?.[1] ?? null,
          }));
      const key = which === 'rel' ? 'published_rel' : 'published_abs';
      const published = rows.filter((p) => p[key] !== null).map((p) => ({ x: p.pair, y: p[key]! }));
      const circuit = circuitRows.length
        ? [{ label: 'ours, KL against the full circuit', points: points(circuitRows) }]
        : [];
      out.push({
        name: `reduction-${setup}-${arch}-${which}`,
        title: `${setup}: ${arch} vs TopK, ${word} % reduction`,
        series: [
          { label: 'ours (seed mean, 95 % CI)', points: points(rows) },
          ...circuit,
          { label: 'published', points: published, dashed: true },
        ],
        options: {
          xLabel: 'pair (upstream position)',
          yLabel: `% reduction (${word}) — above 0: sparser than TopK`,
          integerX: true,
          zeroY: true,
        },
      });
    }
  }
  return out;
}
