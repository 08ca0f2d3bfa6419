/**
 * Two reproductions side by side (issue 15's scale check: the same quick comparison on the 4-layer toy LM and on
 * ascii-128x6): per setup, architecture and pair, each one's % reduction vs TopK (mean ± sd over its own seeds),
 * and the change B − A with its Welch 95 % interval. The seeds of the two are independent runs on different LMs,
 * so the change is unpaired:
 *   se = √(sd_A²/n_A + sd_B²/n_B),   df = se⁴ / ((sd_A²/n_A)²/(n_A−1) + (sd_B²/n_B)²/(n_B−1))   (Welch–Satterthwaite)
 *   CI = (m_B − m_A) ± t(0.975, ⌊df⌋)·se
 * The change is "larger" when the CI lies above 0, "smaller" below, "no clear change" otherwise. Pairs are matched
 * by index (pair i reads block i → i+1 in both), so pairs deeper than the shallower LM has are B's alone.
 */
import type { ChartSeries } from '../figures/line.ts';
import type { SaeArch, SaeSetup } from '../sae.ts';
import type { ReproduceFigure } from './figures.ts';
import type { Judged } from './verdict.ts';
import { t975 } from './verdict.ts';
import type { ReproduceReport } from './report.ts';

export type Change = 'larger' | 'smaller' | 'no clear change';

export interface BesideCell {
  setup: SaeSetup;
  arch: SaeArch;
  /** A pair index, or null for the one-unit aggregate over all pairs. */
  pair: number | null;
  measure: 'relative' | 'absolute';
  a: Judged | null;
  b: Judged | null;
  /** B − A with its Welch interval; null when either side has fewer than 2 seeds or is missing. */
  change: { mean: number; ci: [number, number]; df: number; verdict: Change } | null;
}

export interface BesideReport {
  a: { title: string; lm: string; seeds: number[]; pairs: number };
  b: { title: string; lm: string; seeds: number[]; pairs: number };
  cells: BesideCell[];
}

/** Welch's interval of mean(B) − mean(A), or null without two seeds on each side. */
export function welchChange(a: Judged | null, b: Judged | null): BesideCell['change'] {
  if (!a || !b || a.mean === null || b.mean === null || a.sd === null || b.sd === null) return null;
  if (a.n < 2 || b.n < 2) return null;
  const va = (a.sd * a.sd) / a.n;
  const vb = (b.sd * b.sd) / b.n;
  const se = Math.sqrt(va + vb);
  const mean = b.mean - a.mean;
  // Both spreads 0: no interval width to speak of; the difference itself is the change.
  const df = se === 0 ? a.n + b.n - 2 : (va + vb) ** 2 / ((va * va) / (a.n - 1) + (vb * vb) / (b.n - 1));
  const half = t975(Math.max(1, Math.floor(df))) * se;
  const ci: [number, number] = [mean - half, mean + half];
  const verdict: Change = ci[0] > 0 ? 'larger' : ci[1] < 0 ? 'smaller' : 'no clear change';
  return { mean, ci, df, verdict };
}

const pairCount = (r: ReproduceReport) =>
  new Set(r.pairs.filter((p) => p.target === 'model').map((p) => p.pair)).size;

/** The cells both reports can speak to: every non-TopK arch of every setup either ran, against the model. */
export function besideReports(a: ReproduceReport, b: ReproduceReport): BesideReport {
  const cells: BesideCell[] = [];
  const modelPairs = (r: ReproduceReport) => r.pairs.filter((p) => p.target === 'model' && p.arch !== 'topk');
  const keys = new Map<string, { setup: SaeSetup; arch: SaeArch }>();
  for (const p of [...modelPairs(a), ...modelPairs(b)]) keys.set(`${p.setup}|${p.arch}`, p);
  for (const { setup, arch } of keys.values()) {
    for (const measure of ['relative', 'absolute'] as const) {
      const m = measure === 'relative' ? 'rel' : 'abs';
      const head = (r: ReproduceReport) =>
        r.headline.find(
          (h) =>
            h.setup === setup && h.arch === arch && h.measure === measure && h.aggregation === 'one unit',
        )?.ours ?? null;
      cells.push({
        setup,
        arch,
        pair: null,
        measure,
        a: head(a),
        b: head(b),
        change: welchChange(head(a), head(b)),
      });
      const indices = [
        ...new Set(
          [...modelPairs(a), ...modelPairs(b)]
            .filter((p) => p.setup === setup && p.arch === arch)
            .map((p) => p.pair),
        ),
      ].sort((x, y) => x - y);
      for (const pair of indices) {
        const at = (r: ReproduceReport) =>
          modelPairs(r).find((p) => p.setup === setup && p.arch === arch && p.pair === pair)?.[m] ?? null;
        cells.push({ setup, arch, pair, measure, a: at(a), b: at(b), change: welchChange(at(a), at(b)) });
      }
    }
  }
  const side = (r: ReproduceReport) => ({ title: r.title, lm: r.lm, seeds: r.seeds, pairs: pairCount(r) });
  return { a: side(a), b: side(b), cells };
}

/** Per setup and arch, each reproduction's % reduction per pair (seed mean, band = its 95 % CI), one chart. */
export function besideFigures(
  r: BesideReport,
  measure: BesideCell['measure'] = 'relative',
): ReproduceFigure[] {
  const cells = r.cells.filter((c) => c.measure === measure && c.pair !== null);
  const word = measure === 'relative' ? 'relative' : 'absolute';
  return [...new Set(cells.map((c) => `${c.setup}|${c.arch}`))].map((key) => {
    const [setup, arch] = key.split('|');
    const mine = cells.filter((c) => `${c.setup}|${c.arch}` === key);
    const series = (side: 'a' | 'b', label: string): ChartSeries => ({
      label,
      points: mine
        .filter((c) => c[side]?.mean != null)
        .map((c) => ({
          x: c.pair!,
          y: c[side]!.mean!,
          lo: c[side]!.ci?.[0] ?? null,
          hi: c[side]!.ci?.[1] ?? null,
        })),
    });
    return {
      name: `beside-${setup}-${arch}-${measure === 'relative' ? 'rel' : 'abs'}`,
      title: `${setup}: ${arch} vs TopK, ${word} % reduction`,
      series: [series('a', `A: ${r.a.lm}`), series('b', `B: ${r.b.lm}`)],
      options: {
        xLabel: 'pair (upstream position)',
        yLabel: `% reduction (${word}) — above 0: sparser than TopK`,
        integerX: true,
        zeroY: true,
      },
    };
  });
}

const f = (v: number | null | undefined, d = 1) =>
  typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : '—';
export const judgedText = (j: Judged | null): string =>
  !j || j.mean === null ? '—' : j.n > 1 ? `${f(j.mean)} ± ${f(j.sd)} (n ${j.n})` : `${f(j.mean)} (n 1)`;
export const changeText = (c: BesideCell['change']): string =>
  c ? `${c.mean >= 0 ? '+' : ''}${f(c.mean)} [${f(c.ci[0])}, ${f(c.ci[1])}]` : '—';

export function besideMarkdown(r: BesideReport): string {
  const lines = [
    '# Two reproductions side by side',
    '',
    `A: ${r.a.title} — LM \`${r.a.lm}\`, seeds ${r.a.seeds.join(', ')}, ${r.a.pairs} pairs per setup.`,
    `B: ${r.b.title} — LM \`${r.b.lm}\`, seeds ${r.b.seeds.join(', ')}, ${r.b.pairs} pairs per setup.`,
    '',
    '% reduction vs TopK, SCALAR against the model, mean ± sd over each one’s seeds. Change: B − A with its ' +
      'Welch 95 % interval (unpaired: different LMs); "larger" / "smaller" when the interval excludes 0.',
    '',
  ];
  for (const measure of ['relative', 'absolute'] as const) {
    lines.push(`## ${measure === 'relative' ? 'Relative' : 'Absolute'} SCALAR`, '');
    lines.push('| Setup | Arch | Pair | A | B | B − A [95 % CI] | Change |', '|---|---|---|---|---|---|---|');
    for (const c of r.cells.filter((x) => x.measure === measure))
      lines.push(
        `| ${c.setup} | ${c.arch} | ${c.pair === null ? 'all (one unit)' : c.pair} | ${judgedText(c.a)} | ${judgedText(c.b)} | ${changeText(c.change)} | ${c.change?.verdict ?? '—'} |`,
      );
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}
