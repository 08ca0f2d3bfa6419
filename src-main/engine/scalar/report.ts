/**
 * The pipeline report: the paper's Tables 1–3 in our numbers (with the published values beside them, SPEC
 * §4.5), the raw scores (Table 7) and SAE quality (Table 8) behind them, as Markdown and JSON.
 */
import { meanSd, type Aggregate, type PairComparison } from './compare.ts';

export interface ReportScore {
  setup: string;
  pair: number;
  arch: string;
  seed: number;
  edges: number;
  auc_abs: number;
  auc_rel: number;
  auc_log2: number;
  auc_abs_ci: [number, number];
  full_circuit_kl: number;
}

export interface ReportComparison extends PairComparison {
  setup: string;
  pair: number;
  arch: string;
  baseline: string;
  seed: number;
}

export interface ReportAggregate {
  setup: string;
  arch: string;
  baseline: string;
  seed: number;
  abs: Aggregate;
  rel: Aggregate;
}

export interface ReportSae {
  setup: string;
  arch: string;
  seed: number;
  hook: string;
  d_sae: number;
  l0: number;
  explained_variance: number;
  ce_loss_increase: number;
  compound_ce_loss_increase: number;
}

export interface ReportInput {
  title: string;
  backend: string;
  lm: { ref: string; val_loss: number | null };
  preset: string;
  scores: ReportScore[];
  comparisons: ReportComparison[];
  aggregates: ReportAggregate[];
  saes: ReportSae[];
  figures: string[];
}

/** SPEC §4.5: published % reductions vs TopK per pair (abs, rel), ×8 SAEs, k = 10. */
export const PUBLISHED: Record<
  string,
  { arch: string; abs: number[]; rel?: number[]; headline_rel?: string }
> = {
  fflayer: { arch: 'jsae', abs: [-602.15, 24.5, 9.55, -14.07], headline_rel: '8.54 ± 0.38 %' },
  ffblock: {
    arch: 'staircase',
    abs: [55.46, -1.53, -7.41, -10.33],
    rel: [77.78, 49.24, 46.5, 45.11],
    headline_rel: '59.67 ± 1.83 %',
  },
  tblock: {
    arch: 'staircase',
    abs: [6.95, -64.5, -107.42, -125.53],
    rel: [53.48, 72.6, 82.79, 88.83],
    headline_rel: '63.15 ± 1.35 %',
  },
};

const TABLE_OF: Record<string, number> = { fflayer: 1, ffblock: 2, tblock: 3 };

const f = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '—');
const ci = (c: [number, number], d = 2) => `[${f(c[0], d)}, ${f(c[1], d)}]`;

/** One value per seed → "mean" or "mean ± sd (n seeds)". */
function acrossSeeds(values: number[], d = 2): string {
  if (values.length === 0) return '—';
  const { mean, sd, n } = meanSd(values);
  return n > 1 ? `${f(mean, d)} ± ${f(sd, d)}` : f(mean, d);
}

function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

export function renderReport(input: ReportInput): { markdown: string; json: Record<string, unknown> } {
  const md: string[] = [
    `# ${input.title}`,
    '',
    `Preset \`${input.preset}\` · backend \`${input.backend}\` · LM \`${input.lm.ref}\` (validation CE ${input.lm.val_loss === null ? '—' : input.lm.val_loss.toFixed(4)} nats/char).`,
    'SCALAR scores: area under mean KL(full model ‖ subcircuit) vs the edge budget N; lower is better. "% reduction" = (S_TopK − S_X)/S_TopK. Intervals are 95 % paired-bootstrap intervals over evaluation tokens; with several seeds, mean ± sd across seeds.',
    '',
  ];
  for (const setup of ['fflayer', 'ffblock', 'tblock']) {
    const comps = input.comparisons.filter((c) => c.setup === setup);
    if (comps.length === 0) continue;
    const published = PUBLISHED[setup];
    const arch = comps[0].arch;
    md.push(
      `## Table ${TABLE_OF[setup]} — ${setup}: ${arch} vs ${comps[0].baseline}, % reduction per pair`,
      '',
    );
    const pairs = [...new Set(comps.map((c) => c.pair))].sort((a, b) => a - b);
    const rows = pairs.map((p) => {
      const mine = comps.filter((c) => c.pair === p);
      const one = mine.length === 1 ? mine[0] : null;
      return [
        String(p),
        acrossSeeds(mine.map((c) => c.reduction_abs_pct)) + (one ? ` ${ci(one.reduction_abs_ci)}` : ''),
        published.arch === arch ? f(published.abs[p] ?? NaN) : '—',
        acrossSeeds(mine.map((c) => c.reduction_rel_pct)) + (one ? ` ${ci(one.reduction_rel_ci)}` : ''),
        published.arch === arch && published.rel ? f(published.rel[p] ?? NaN) : '—',
        acrossSeeds(mine.map((c) => c.reduction_log2_pct)),
      ];
    });
    md.push(
      table(
        [
          'pair',
          'absolute (ours)',
          'absolute (paper)',
          'relative (ours)',
          'relative (paper)',
          'log₂-axis area (ours)',
        ],
        rows,
      ),
      '',
    );
    const aggs = input.aggregates.filter((a) => a.setup === setup);
    if (aggs.length) {
      md.push(
        `Aggregate over pairs (scores summed in one unit): absolute ${acrossSeeds(aggs.map((a) => a.abs.reduction_pct))} %, relative ${acrossSeeds(aggs.map((a) => a.rel.reduction_pct))} %.`,
        `Paper-style aggregate (per-pair scores summed as printed, in mixed powers of ten): absolute ${acrossSeeds(aggs.map((a) => a.abs.paper_style_reduction_pct))} %, relative ${acrossSeeds(aggs.map((a) => a.rel.paper_style_reduction_pct))} %. Published headline (relative): ${published.arch === arch ? published.headline_rel : '—'}.`,
        '',
      );
    }
  }
  md.push('## Table 7 — raw SCALAR scores', '');
  md.push(
    table(
      [
        'setup',
        'pair',
        'arch',
        'seed',
        'edges F₀·F₁',
        'absolute [95 % CI]',
        'relative',
        'log₂-axis area',
        'KL(full model ‖ full circuit)',
      ],
      input.scores.map((s) => [
        s.setup,
        String(s.pair),
        s.arch,
        String(s.seed),
        String(s.edges),
        `${f(s.auc_abs, 1)} ${ci(s.auc_abs_ci, 1)}`,
        s.auc_rel.toExponential(4),
        f(s.auc_log2, 4),
        f(s.full_circuit_kl, 4),
      ]),
    ),
    '',
  );
  md.push('## Table 8 — SAE quality (evaluation split)', '');
  md.push(
    table(
      [
        'setup',
        'arch',
        'seed',
        'hook',
        'd_sae',
        'l0',
        'explained variance',
        'ΔCE (this SAE)',
        'compound ΔCE (run)',
      ],
      input.saes.map((s) => [
        s.setup,
        s.arch,
        String(s.seed),
        s.hook,
        String(s.d_sae),
        f(s.l0),
        f(s.explained_variance, 4),
        f(s.ce_loss_increase, 4),
        f(s.compound_ce_loss_increase, 4),
      ]),
    ),
    '',
  );
  if (input.figures.length) {
    md.push('## Figures', '', ...input.figures.map((p) => `![${p}](${p})`), '');
  }
  md.push('Published compound CE increases (tblock): topk-x8 0.5077, staircase-x8 0.4368 (SPEC §4.5).', '');
  return {
    markdown: md.join('\n'),
    json: {
      title: input.title,
      preset: input.preset,
      backend: input.backend,
      lm: input.lm,
      scores: input.scores,
      comparisons: input.comparisons,
      aggregates: input.aggregates,
      saes: input.saes,
      published: PUBLISHED,
      figures: input.figures,
    },
  };
}
