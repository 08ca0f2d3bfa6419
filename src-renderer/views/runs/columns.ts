/**
 * Which headline columns the table shows and how each reads. A column appears when a run kind on the page has
 * that figure (LM: val loss; SAE: EV, L0, ΔCE; SCALAR: AUC abs / rel), so a table of only LMs stays narrow.
 */
import type { RunSummary } from '../../../src-shared/api.ts';
import type { JobProgress } from '../../../src-shared/jobs.ts';
import { HEADLINE_LABELS, type Headline, type RunSortKey } from '../../../src-shared/runs.ts';
import { formatLoss, formatPercent, formatRate, formatSig } from '../../lib/format.ts';

export type MetricKey = keyof Headline;

export interface MetricColumn {
  key: MetricKey & RunSortKey;
  label: string;
  title: string;
  format: (v: number | null | undefined) => string;
}

export const METRIC_COLUMNS: MetricColumn[] = [
  {
    key: 'val_loss',
    label: HEADLINE_LABELS.val_loss,
    title: 'LM validation loss (nats/token)',
    format: formatLoss,
  },
  {
    key: 'explained_variance',
    label: HEADLINE_LABELS.explained_variance,
    title: 'Mean explained variance over the SAE set',
    format: (v) => formatPercent(v, 1),
  },
  {
    key: 'l0',
    label: HEADLINE_LABELS.l0,
    title: 'Mean L0 (active latents per token)',
    format: (v) => formatSig(v, 3),
  },
  {
    key: 'ce_loss_increase',
    label: HEADLINE_LABELS.ce_loss_increase,
    title: 'CE loss increase with all SAEs of the set spliced in',
    format: (v) => formatSig(v, 3),
  },
  {
    key: 'auc_abs',
    label: HEADLINE_LABELS.auc_abs,
    title: 'SCALAR absolute AUC, mean over pairs (lower = sparser interactions)',
    format: (v) => formatSig(v, 4),
  },
  {
    key: 'auc_rel',
    label: HEADLINE_LABELS.auc_rel,
    title: 'SCALAR relative AUC, mean over pairs',
    format: (v) => formatSig(v, 4),
  },
];

/** The headline figures each kind of run has. */
const METRICS_OF_KIND: Record<string, MetricKey[]> = {
  lm: ['val_loss'],
  sae: ['explained_variance', 'l0', 'ce_loss_increase'],
  scalar: ['auc_abs', 'auc_rel'],
};

/** Metric columns for these rows (plus the sorted one, so the sort stays visible). */
export function metricColumnsFor(rows: RunSummary[], kinds: string[], sort: RunSortKey): MetricColumn[] {
  const wanted = new Set<string>();
  for (const kind of kinds) for (const k of METRICS_OF_KIND[kind] ?? []) wanted.add(k);
  for (const row of rows) {
    for (const k of METRICS_OF_KIND[row.kind] ?? []) wanted.add(k);
    for (const [k, v] of Object.entries(row.headline)) if (typeof v === 'number') wanted.add(k);
  }
  wanted.add(sort);
  return METRIC_COLUMNS.filter((c) => wanted.has(c.key));
}

/** Whether a row's kind has this figure at all (else the cell is blank rather than "—"). */
export function kindHasMetric(kind: string, key: MetricKey): boolean {
  return (METRICS_OF_KIND[kind] ?? []).includes(key);
}

/** A running job's progress, live from events when there are any, else the store's last copy. */
export interface LiveProgress {
  step: number;
  total: number;
  rate: string | null;
  etaSeconds: number | null;
  phase: string | null;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export function liveProgressOf(run: RunSummary, live: JobProgress | undefined): LiveProgress | null {
  if (live) {
    return {
      step: live.step,
      total: live.total,
      rate:
        live.unitsPerSecond > 0
          ? formatRate(live.unitsPerSecond, live.unit)
          : live.stepsPerSecond > 0
            ? formatRate(live.stepsPerSecond, 'steps')
            : null,
      etaSeconds: live.etaSeconds,
      phase: live.phase ?? null,
    };
  }
  const p = run.progress;
  const step = num(p?.step);
  const total = num(p?.total);
  if (step === null || total === null) return null;
  const rate = num(p?.rate) ?? num(p?.stepsPerSecond);
  return {
    step,
    total,
    rate: rate !== null && rate > 0 ? formatRate(rate, 'steps') : null,
    etaSeconds: num(p?.eta) ?? num(p?.etaSeconds),
    phase: typeof p?.phase === 'string' ? p.phase : null,
  };
}
