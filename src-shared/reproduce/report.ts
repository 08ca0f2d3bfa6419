/**
 * The reproduction report as data (report.json, the run's summary, what the app's page draws) and as Markdown.
 * Built from the stored per-seed numbers only; the headline aggregates are given both ways, labelled.
 */
import { PUBLISHED, type ReproduceConfig } from '../reproduce.ts';
import type { SaeArch, SaeSetup } from '../sae.ts';
import { evaluateClaims, type ClaimResult, type ReproduceInputs, type SeedReduction } from './claims.ts';
import { evaluateFindings } from './findings.ts';
import { judge, type ClaimVerdict, type Judged } from './verdict.ts';

export const VERDICT_RULE =
  'Each test has one value per seed. Its 95 % interval is the t-interval of the seed mean (mean ± t·sd/√n) with ' +
  '2 or more seeds, or the paired-bootstrap CI of the one seed where the quantity has one. A sign claim holds when ' +
  'the interval excludes 0 on the claimed side, does not hold when it excludes 0 on the other side, and is within ' +
  'noise otherwise; a range claim holds when the interval lies inside the range, does not hold when it lies wholly ' +
  'outside. A claim of several tests holds when all hold and does not hold when any does not.';

/** Text and a shape per verdict, so a badge never depends on colour alone. */
export const VERDICT_MARK: Record<ClaimVerdict, string> = {
  holds: '✔',
  'does not hold': '✘',
  'within noise': '≈',
  'not run': '–',
};

/** One seed's aggregates of one arch vs TopK over a setup's pairs (`scalar compare`). */
export interface SeedAggregate {
  setup: SaeSetup;
  arch: SaeArch;
  seed: number;
  abs: { one_unit: number | null; paper_style: number | null };
  rel: { one_unit: number | null; paper_style: number | null };
}

export interface HeadlineRow {
  setup: SaeSetup;
  arch: SaeArch;
  measure: 'relative' | 'absolute';
  aggregation: 'one unit' | 'paper-style';
  ours: Judged;
  published: { mean: number; sd: number } | null;
}

export interface PairRow {
  setup: SaeSetup;
  arch: SaeArch;
  pair: number;
  /** SCALAR's KL target; the published figures are against the model. */
  target: SeedReduction['target'];
  abs: Judged;
  rel: Judged;
  published_abs: number | null;
  published_rel: number | null;
}

export interface ReproduceReport {
  schema: 1;
  title: string;
  preset: ReproduceConfig['preset'];
  seeds: number[];
  setups: SaeSetup[];
  variants: boolean;
  lm: string;
  backend: string;
  rule: string;
  claims: ClaimResult[];
  /** What we found while reproducing (not the paper's claims), judged on this reproduction's seeds. */
  findings: ClaimResult[];
  headline: HeadlineRow[];
  pairs: PairRow[];
  /** Paper rows this reproduction does not train, said so rather than left out silently. */
  not_run: string[];
  figures: string[];
  /** Step → run id, and whether the run was reused from an earlier invocation. */
  runs: { key: string; id: string; reused: boolean }[];
}

const AGGREGATION_LABEL = {
  'one unit': 'one unit (Σ S_TopK vs Σ S_X, ours)',
  'paper-style': 'paper-style (printed mantissas of mixed powers of ten summed, as the paper appears to)',
} as const;

export function buildReport(
  x: ReproduceInputs & {
    aggregates: SeedAggregate[];
    config: Pick<ReproduceConfig, 'preset' | 'setups' | 'variants' | 'lm'>;
    backend: string;
    figures: string[];
    runs: ReproduceReport['runs'];
  },
): ReproduceReport {
  const headline: HeadlineRow[] = [];
  const keys = [...new Set(x.aggregates.map((a) => `${a.setup}|${a.arch}`))];
  for (const key of keys) {
    const [setup, arch] = key.split('|') as [SaeSetup, SaeArch];
    const rows = x.aggregates
      .filter((a) => a.setup === setup && a.arch === arch)
      .sort((a, b) => a.seed - b.seed);
    for (const measure of ['relative', 'absolute'] as const)
      for (const aggregation of ['one unit', 'paper-style'] as const) {
        const m = measure === 'relative' ? 'rel' : 'abs';
        const k = aggregation === 'one unit' ? 'one_unit' : 'paper_style';
        headline.push({
          setup,
          arch,
          measure,
          aggregation,
          ours: judge(
            rows.map((r) => r[m][k]),
            { kind: 'sign', sign: 1 },
          ),
          // The abstract's headline is the paper's own (paper-style) aggregate of the relative scores.
          published:
            measure === 'relative' && aggregation === 'paper-style' ? PUBLISHED.headline[setup] : null,
        });
      }
  }
  const pairs: PairRow[] = [];
  const cells = [...new Set(x.reductions.map((r) => `${r.setup}|${r.arch}|${r.pair}|${r.target}`))];
  for (const cell of cells) {
    const [setup, arch, p, target] = cell.split('|');
    const rows = x.reductions
      .filter((r) => r.setup === setup && r.arch === arch && r.pair === Number(p) && r.target === target)
      .sort((a, b) => a.seed - b.seed);
    const one = rows.length === 1 ? rows[0] : null;
    const table = PUBLISHED[setup as SaeSetup] as { abs: readonly number[]; rel?: readonly number[] };
    pairs.push({
      setup: setup as SaeSetup,
      arch: arch as SaeArch,
      pair: Number(p),
      target: target as PairRow['target'],
      abs: judge(
        rows.map((r) => r.abs),
        { kind: 'sign', sign: 1 },
        one?.absCi,
      ),
      rel: judge(
        rows.map((r) => r.rel),
        { kind: 'sign', sign: 1 },
        one?.relCi,
      ),
      published_abs: table.abs[Number(p)] ?? null,
      published_rel: (table.rel ?? table.abs)[Number(p)] ?? null,
    });
  }
  return {
    schema: 1,
    title: `SCALAR reproduction — ${x.config.preset} preset, ${x.seeds.length} seed${x.seeds.length === 1 ? '' : 's'}`,
    preset: x.config.preset,
    seeds: x.seeds,
    setups: x.config.setups,
    variants: x.config.variants,
    lm: x.config.lm,
    backend: x.backend,
    rule: VERDICT_RULE,
    claims: evaluateClaims(x),
    findings: evaluateFindings(x),
    headline,
    pairs,
    not_run: [
      'TopK ×40, TopK ×40 tied and Staircase-untied (the ×40 compound-ΔCE rows) are not trained by any preset.',
      'GPT-2 Small (38.7 % ffblock headline) is not part of the toy reproduction.',
      ...(x.config.variants
        ? []
        : [
            'Staircase variants (detach, shared bias, tied-all) were not trained: run without --no-variants.',
          ]),
    ],
    figures: x.figures,
    runs: x.runs,
  };
}

const n2 = (v: number | null | undefined, d = 2) =>
  typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : '—';
export const meanSdText = (j: Judged, d = 2): string =>
  j.mean === null ? '—' : j.n > 1 ? `${n2(j.mean, d)} ± ${n2(j.sd, d)}` : n2(j.mean, d);
export const ciText = (j: Judged, d = 2): string => (j.ci ? `[${n2(j.ci[0], d)}, ${n2(j.ci[1], d)}]` : '—');
export const verdictText = (v: ClaimVerdict): string => `${VERDICT_MARK[v]} ${v}`;
/** ΔCE differences are small numbers in nats: more decimals. */
const digits = (quantity: string) => (quantity.includes('nats') ? 4 : 2);

export function reportMarkdown(r: ReproduceReport): string {
  const lines: string[] = [`# ${r.title}`, ''];
  lines.push(
    `Language model \`${r.lm}\` · backend ${r.backend} · seeds ${r.seeds.join(', ')} · setups ${r.setups.join(', ')}` +
      ` · staircase variants ${r.variants ? 'trained' : 'not trained'}.`,
    '',
    `**Verdict rule.** ${r.rule}`,
    '',
    '## Claims',
    '',
    '| Claim | Verdict |',
    '|---|---|',
    ...r.claims.map((c) => `| ${c.claim} | ${verdictText(c.verdict)} |`),
    '',
  );
  const findings = r.findings ?? [];
  if (findings.length)
    lines.push(
      '## Findings of ours, checked on these seeds',
      '',
      '| Finding | Verdict |',
      '|---|---|',
      ...findings.map((c) => `| ${c.claim} | ${verdictText(c.verdict)} |`),
      '',
    );
  for (const c of [...r.claims, ...findings]) {
    lines.push(`### ${c.claim}`, '', `Measured as: ${c.measure}.`, '');
    if (c.notRun) {
      lines.push(`Not run: ${c.notRun}.`, '');
      continue;
    }
    lines.push(
      '| Test | Quantity | Expected | Ours (mean ± sd) | 95 % CI | n | Published | Verdict |',
      '|---|---|---|---|---|---|---|---|',
    );
    for (const t of c.tests) {
      const d = digits(t.quantity);
      lines.push(
        `| ${t.label} | ${t.quantity} | ${t.expect} | ${meanSdText(t.ours, d)} | ${ciText(t.ours, d)} | ${t.ours.n} | ${n2(t.published, d)} | ${verdictText(t.ours.verdict)} (${t.ours.reason}) |`,
      );
    }
    lines.push('');
  }
  lines.push(
    '## Headline aggregates (% reduction vs TopK over all pairs)',
    '',
    '| Setup | Arch | Score | Aggregation | Ours (mean ± sd) | 95 % CI | Published |',
    '|---|---|---|---|---|---|---|',
    ...r.headline.map(
      (h) =>
        `| ${h.setup} | ${h.arch} | ${h.measure} | ${AGGREGATION_LABEL[h.aggregation]} | ${meanSdText(h.ours)} | ${ciText(h.ours)} | ${h.published ? `${h.published.mean} ± ${h.published.sd}` : '—'} |`,
    ),
    '',
    '## Per pair (% reduction vs TopK, mean ± sd over seeds)',
    '',
    'Published figures are against the model; rows against the full circuit are ours only.',
    '',
    '| Setup | Arch | Pair | KL against | Absolute | Abs. published | Relative | Rel. published |',
    '|---|---|---|---|---|---|---|---|',
    ...r.pairs.map(
      (p) =>
        `| ${p.setup} | ${p.arch} | ${p.pair} | ${p.target === 'circuit' ? 'full circuit' : 'model'} | ${meanSdText(p.abs)} ${ciText(p.abs)} | ${n2(p.published_abs)} | ${meanSdText(p.rel)} ${ciText(p.rel)} | ${n2(p.published_rel)} |`,
    ),
    '',
    '## Not run with this preset',
    '',
    ...r.not_run.map((s) => `- ${s}`),
    '',
  );
  if (r.figures.length)
    lines.push('## Figures', '', ...r.figures.map((f) => `![${f}](${f.replace(/\.svg$/, '.png')})`), '');
  const reused = r.runs.filter((x) => x.reused).length;
  lines.push('## Runs', '', `${r.runs.length} steps, ${reused} reused from earlier invocations.`, '');
  lines.push(...r.runs.map((x) => `- ${x.key}: \`${x.id}\`${x.reused ? ' (reused)' : ''}`), '');
  return `${lines.join('\n')}\n`;
}
