/**
 * The validation report (issue 15): per condition × method (× segment kind) the mean recovery over the planted
 * circuits, its change from the baseline condition, and a verdict computed from those numbers by the rules
 * below — never written by hand — plus the markdown the CLI prints and stores.
 */
import {
  DEFAULT_METHOD_ID,
  PLANTED_SEGMENTS,
  type ConditionSummary,
  type PlantedResult,
  type Recovery,
  type ValidationPreset,
  type ValidationReport,
  type Verdict,
} from '../../../src-shared/validation.ts';

/**
 * Verdict rules. `fails`: the ranking no longer separates true edges (precision at |E| below one half, AUROC
 * below 0.8) or its curve's log₂ area is 1.5× the true order's. `degrades`: a drop from the baseline condition
 * larger than these margins. Otherwise `holds`.
 */
export const THRESHOLDS = {
  failPrecision: 0.5,
  failAuroc: 0.8,
  failCurveRatio: 1.5,
  degradePrecisionDrop: 0.1,
  degradeAurocDrop: 0.05,
  degradeSpearmanDrop: 0.2,
  degradeCurveRise: 0.15,
  /** Below this Spearman a method orders the true edges only weakly by planted strength (reported apart). */
  weakSpearman: 0.5,
} as const;

type Stats = Omit<Recovery, 'aucAbs' | 'aucLog2'>;
const KEYS = ['precision', 'recall', 'auroc', 'spearman', 'curveRatio'] as const;

function meanSd(rows: Recovery[]): { mean: Stats; sd: Stats } {
  const mean = {} as Stats;
  const sd = {} as Stats;
  for (const k of KEYS) {
    const v = rows.map((r) => r[k]).filter(Number.isFinite);
    const m = v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
    mean[k] = m;
    sd[k] = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1)) : 0;
  }
  return { mean, sd };
}

const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : 'n/a');
/** Verdict reasons: three decimals, so a value just under a threshold never prints as equal to it. */
const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');

export function verdictOf(mean: Stats, delta: Stats): { verdict: Verdict; reasons: string[] } {
  const t = THRESHOLDS;
  const fail: string[] = [];
  if (mean.precision < t.failPrecision) fail.push(`precision ${f3(mean.precision)} < ${t.failPrecision}`);
  if (mean.auroc < t.failAuroc) fail.push(`AUROC ${f3(mean.auroc)} < ${t.failAuroc}`);
  if (mean.curveRatio > t.failCurveRatio)
    fail.push(`curve area ${f3(mean.curveRatio)}× the true order's > ${t.failCurveRatio}×`);
  if (fail.length) return { verdict: 'fails', reasons: fail };
  const worse: string[] = [];
  if (-delta.precision > t.degradePrecisionDrop)
    worse.push(`precision ${f3(delta.precision)} vs baseline (margin ${t.degradePrecisionDrop})`);
  if (-delta.auroc > t.degradeAurocDrop)
    worse.push(`AUROC ${f3(delta.auroc)} vs baseline (margin ${t.degradeAurocDrop})`);
  if (-delta.spearman > t.degradeSpearmanDrop)
    worse.push(`Spearman ${f3(delta.spearman)} vs baseline (margin ${t.degradeSpearmanDrop})`);
  if (delta.curveRatio > t.degradeCurveRise)
    worse.push(`curve area ratio +${f3(delta.curveRatio)} vs baseline (margin ${t.degradeCurveRise})`);
  return worse.length ? { verdict: 'degrades', reasons: worse } : { verdict: 'holds', reasons: [] };
}

const SEVERITY: Record<Verdict, number> = { fails: 2, degrades: 1, holds: 0 };

export function summarise(
  results: PlantedResult[],
  preset: ValidationPreset,
): { summary: ConditionSummary[]; failures: ValidationReport['failures'] } {
  const summary: ConditionSummary[] = [];
  const baseline = preset.conditions[0].id;
  for (const segment of ['all', ...PLANTED_SEGMENTS] as const) {
    const of = (cond: string, method: string) =>
      results
        .filter((r) => r.condition === cond && (segment === 'all' || r.segment === segment))
        .map((r) => r.recovery[method])
        .filter(Boolean);
    for (const m of preset.methods) {
      const base = meanSd(of(baseline, m.id)).mean;
      for (const cond of preset.conditions) {
        const rows = of(cond.id, m.id);
        if (!rows.length) continue;
        const { mean, sd } = meanSd(rows);
        const delta = {} as Stats;
        for (const k of KEYS) delta[k] = mean[k] - base[k];
        summary.push({
          condition: cond.id,
          knob: cond.knob,
          method: m.id,
          segment,
          n: rows.length,
          mean,
          sd,
          delta,
          ...verdictOf(mean, delta),
        });
      }
    }
  }
  // What the report leads with: every IG method whose ranking breaks, over both segment kinds or in one.
  const failures = summary
    .filter((s) => s.method !== 'random' && s.verdict !== 'holds')
    .sort(
      (a, b) =>
        SEVERITY[b.verdict] - SEVERITY[a.verdict] ||
        Number(b.method === DEFAULT_METHOD_ID) - Number(a.method === DEFAULT_METHOD_ID) ||
        a.condition.localeCompare(b.condition),
    )
    .map((s) => ({
      condition: s.condition,
      method: s.method,
      segment: s.segment,
      verdict: s.verdict,
      reasons: s.reasons,
    }));
  return { summary, failures };
}

function table(rows: ConditionSummary[]): string[] {
  const out = [
    '| condition | method | precision = recall at #E | AUROC | Spearman | curve area / true | verdict |',
    '|---|---|---|---|---|---|---|',
  ];
  const pm = (k: keyof Stats, r: ConditionSummary) =>
    `${f2(r.mean[k])}${r.n > 1 ? ` ± ${f2(r.sd[k])}` : ''}${r.condition !== 'baseline' && Number.isFinite(r.delta[k]) ? ` (${r.delta[k] >= 0 ? '+' : ''}${f2(r.delta[k])})` : ''}`;
  for (const r of rows)
    out.push(
      `| ${r.condition} | ${r.method} | ${pm('precision', r)} | ${pm('auroc', r)} | ${pm('spearman', r)} | ${pm('curveRatio', r)} | ${r.verdict} |`,
    );
  return out;
}

export function reportMarkdown(report: ValidationReport): string {
  const { config, preset } = report;
  const circuits = report.results.length;
  const lines = [
    '# Planted-circuit validation of SCALAR edge rankings',
    '',
    `Preset **${config.preset}**, ${config.seeds} seed(s) from ${config.seed}, ${circuits} planted circuits ` +
      `(${preset.conditions.length} conditions × 2 segment kinds × ${config.seeds} seeds), F₀ = ${preset.f0} causal ` +
      `(+ distractors), F₁ = ${preset.f1}; ${preset.attributionSeqs} attribution × ${preset.evalSeqs} evaluation ` +
      `windows of ${preset.seqLen} tokens; backend ${report.backend}; ${report.wallSeconds.toFixed(0)} s.`,
    '',
    'Recovery of the planted edges E by the top of each ranking: precision at N = |E| (equal to recall there), ' +
      'AUROC over all edges, Spearman of the ranking order vs the true strength over E, and the log₂-N area of ' +
      'the SCALAR curve (KL to the full circuit, subcircuit TopK with ReLU) relative to the true edge order. Mean ± sd over circuits, ' +
      '(change from the baseline condition).',
    '',
    '## Where IG fails',
    '',
  ];
  const failing = report.failures.filter((f) => f.segment === 'all');
  if (!failing.length) lines.push('No IG method breaks at any condition by the rules below.');
  for (const f of failing)
    lines.push(`- **${f.condition}**, ${f.method}: ${f.verdict} — ${f.reasons.join('; ')}`);
  const t0 = { ...THRESHOLDS, ...report.thresholds };
  const weak = report.summary.filter(
    (s) => s.segment === 'all' && s.method !== 'random' && s.mean.spearman < t0.weakSpearman,
  );
  if (weak.length) {
    const at = (m: string) =>
      weak
        .filter((s) => s.method === m)
        .map((s) => `${s.condition} ${f2(s.mean.spearman)}`)
        .join(', ');
    lines.push(
      '',
      `Order within the true edges: Spearman against the planted strength below ${t0.weakSpearman} for`,
      ...[...new Set(weak.map((s) => s.method))].map((m) => `- ${m}: ${at(m)}`),
    );
  }
  const perSegment = report.failures.filter((f) => f.segment !== 'all' && f.method === DEFAULT_METHOD_ID);
  if (perSegment.length) {
    lines.push('', `For one segment kind only (${DEFAULT_METHOD_ID}):`);
    for (const f of perSegment)
      lines.push(`- ${f.segment}, **${f.condition}**: ${f.verdict} — ${f.reasons.join('; ')}`);
  }
  lines.push('', '## Recovery per method × condition (both segment kinds)', '');
  lines.push(...table(report.summary.filter((s) => s.segment === 'all')));
  for (const seg of PLANTED_SEGMENTS) {
    lines.push(
      '',
      `## ${seg === 'mlp' ? 'Position-local (MLP) segment' : 'Position-mixing (attention) segment'}`,
      '',
    );
    lines.push(...table(report.summary.filter((s) => s.segment === seg && s.method !== 'random')));
  }
  const t = report.thresholds;
  lines.push(
    '',
    '## Verdict rules',
    '',
    `- fails: precision < ${t.failPrecision}, or AUROC < ${t.failAuroc}, or curve area > ${t.failCurveRatio}× the true order's.`,
    `- degrades: a drop from the baseline of more than ${t.degradePrecisionDrop} in precision, ${t.degradeAurocDrop} in AUROC or ` +
      `${t.degradeSpearmanDrop} in Spearman, or a rise of more than ${t.degradeCurveRise} in the curve area ratio.`,
    '- holds: otherwise.',
    '',
  );
  return lines.join('\n');
}
