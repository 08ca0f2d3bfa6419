/**
 * Which training curves a run page draws, from the metric keys a run has recorded (scope '' = the whole run,
 * otherwise one SAE's hook). LM runs record train_loss / val_loss / lr; SAE runs record train_loss per hook and
 * for the run, and at each evaluation mse / explained_variance / l0 / ce_loss_increase / kl_div / frac_alive
 * (and l0_chunk_<i> for staircases) per hook plus compound ΔCE / KL for the run. Keys not named here still get
 * a chart of their own, so a new metric shows up without a UI change.
 */
import type { ChartPoint, ChartSeries } from '../../lib/charts/plot.ts';

export interface MetricKey {
  scope: string;
  key: string;
}

export interface CurveMember extends MetricKey {
  label: string;
  dashed?: boolean;
  /** Dead fraction is drawn from frac_alive. */
  invert?: boolean;
}

export interface CurveChart {
  id: string;
  title: string;
  yLabel: string;
  members: CurveMember[];
}

export const seriesId = (scope: string, key: string): string => `${scope}\u241f${key}`;

/** Run-level keys that are not worth a chart of their own (constant per run). */
const SKIP = new Set(['clean_ce']);

/** Per-hook evaluation metrics in the order researchers read them (SAEBench). */
const HOOK_CHARTS: { key: string; title: string; yLabel: string; run?: string; invert?: boolean }[] = [
  { key: 'train_loss', title: 'Train loss', yLabel: 'loss', run: 'train_loss' },
  { key: 'mse', title: 'MSE', yLabel: 'mse' },
  { key: 'explained_variance', title: 'Explained variance', yLabel: 'EV' },
  { key: 'l0', title: 'L0', yLabel: 'L0' },
  { key: 'frac_alive', title: 'Dead fraction', yLabel: 'dead', invert: true },
  { key: 'ce_loss_increase', title: 'ΔCE', yLabel: 'ΔCE (nats)', run: 'compound_ce_loss_increase' },
  { key: 'kl_div', title: 'KL divergence', yLabel: 'KL (nats)', run: 'compound_kl_div' },
];

const LM_CHARTS: { id: string; title: string; yLabel: string; keys: [string, string][] }[] = [
  {
    id: 'loss',
    title: 'Loss',
    yLabel: 'loss (nats/token)',
    keys: [
      ['train_loss', 'train'],
      ['val_loss', 'validation'],
    ],
  },
  { id: 'lr', title: 'Learning rate', yLabel: 'lr', keys: [['lr', 'lr']] },
];

/** Where a TransformerLens hook sits inside its block, in forward order (unknown names in between). */
const HOOK_POSITION: Record<string, number> = {
  hook_resid_pre: 0,
  'ln1.hook_normalized': 1,
  'attn.hook_z': 2,
  hook_attn_out: 3,
  hook_resid_mid: 4,
  'ln2.hook_normalized': 5,
  'mlp.hook_pre': 6,
  'mlp.hook_post': 7,
  hook_mlp_out: 8,
  hook_resid_post: 9,
};

/** Hooks in model order: blocks.0.hook_resid_pre, blocks.1.hook_resid_pre, blocks.1.hook_resid_post, … */
export function byHookOrder(a: string, b: string): number {
  const rank = (h: string): [number, number] => {
    const m = /^blocks\.(\d+)\.(.+)$/.exec(h);
    return m ? [Number(m[1]), HOOK_POSITION[m[2]] ?? 5] : [Number.POSITIVE_INFINITY, 0];
  };
  const [ba, pa] = rank(a);
  const [bb, pb] = rank(b);
  return ba - bb || pa - pb || a.localeCompare(b, 'en', { numeric: true });
}

/** The charts for a run of `kind` with these recorded keys (SCALAR runs have no training curves). */
export function curveCharts(kind: string, keys: MetricKey[]): CurveChart[] {
  if (kind === 'scalar') return [];
  const has = new Set(keys.map((k) => seriesId(k.scope, k.key)));
  const used = new Set<string>();
  const charts: CurveChart[] = [];
  const take = (m: CurveMember) => {
    used.add(seriesId(m.scope, m.key));
    return m;
  };

  if (kind === 'lm') {
    for (const c of LM_CHARTS) {
      const members = c.keys
        .filter(([key]) => has.has(seriesId('', key)))
        .map(([key, label]) => take({ scope: '', key, label }));
      if (members.length) charts.push({ id: c.id, title: c.title, yLabel: c.yLabel, members });
    }
  }

  const hooks = [...new Set(keys.filter((k) => k.scope !== '').map((k) => k.scope))].sort(byHookOrder);
  for (const c of HOOK_CHARTS) {
    const members: CurveMember[] = hooks
      .filter((h) => has.has(seriesId(h, c.key)))
      .map((h) => take({ scope: h, key: c.key, label: h, invert: c.invert }));
    if (c.run && has.has(seriesId('', c.run)) && !used.has(seriesId('', c.run)))
      members.push(
        take({ scope: '', key: c.run, label: c.key === 'train_loss' ? 'total' : 'compound', dashed: true }),
      );
    if (members.length) charts.push({ id: c.key, title: c.title, yLabel: c.yLabel, members });
  }

  // Staircase L0 per chunk: one chart, a series per hook and chunk.
  const chunks = keys
    .filter((k) => /^l0_chunk_\d+$/.test(k.key))
    .sort((a, b) => byHookOrder(a.scope, b.scope) || byHookOrder(a.key, b.key));
  if (chunks.length)
    charts.push({
      id: 'l0_chunk',
      title: 'L0 per chunk',
      yLabel: 'L0',
      members: chunks.map((k) =>
        take({ ...k, label: `${k.scope} · chunk ${k.key.slice('l0_chunk_'.length)}` }),
      ),
    });

  // Anything else: a chart per key, a series per scope.
  const rest = new Map<string, MetricKey[]>();
  for (const k of keys) {
    if (used.has(seriesId(k.scope, k.key)) || SKIP.has(k.key)) continue;
    rest.set(k.key, [...(rest.get(k.key) ?? []), k]);
  }
  for (const [key, ks] of rest)
    charts.push({
      id: `other:${key}`,
      title: key.replace(/_/g, ' '),
      yLabel: key,
      members: ks
        .sort((a, b) => byHookOrder(a.scope, b.scope))
        .map((k) => ({ ...k, label: k.scope || 'run' })),
    });
  return charts;
}

/** A chart's series from the points loaded and received so far. */
export function chartSeries(chart: CurveChart, points: Record<string, ChartPoint[]>): ChartSeries[] {
  return chart.members.map((m) => {
    const ps = points[seriesId(m.scope, m.key)] ?? [];
    return {
      label: m.label,
      dashed: m.dashed,
      points: m.invert ? ps.map((p) => ({ x: p.x, y: 1 - p.y })) : ps,
    };
  });
}

/** Appends live points to a series (steps only move forward; a repeated step replaces its value). */
export function appendPoint(series: ChartPoint[] | undefined, p: ChartPoint): ChartPoint[] {
  const out = series ? series.slice() : [];
  const last = out[out.length - 1];
  if (!last || p.x > last.x) out.push(p);
  else if (p.x === last.x) out[out.length - 1] = p;
  else {
    const i = out.findIndex((q) => q.x >= p.x);
    if (out[i].x === p.x) out[i] = p;
    else out.splice(i, 0, p);
  }
  return out;
}

/** Metric keys without repeats, in first-seen order. */
export function uniqueKeys(...lists: MetricKey[][]): MetricKey[] {
  const seen = new Set<string>();
  return lists.flat().filter((k) => {
    const id = seriesId(k.scope, k.key);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

export interface LiveMetrics {
  step: number;
  scope: string;
  values: Record<string, number>;
}

/** Live metric events applied to the loaded points; also says which keys they brought that were not known. */
export function applyLive(
  points: Record<string, ChartPoint[]>,
  known: MetricKey[],
  events: LiveMetrics[],
): { points: Record<string, ChartPoint[]>; added: MetricKey[] } {
  const next = { ...points };
  const ids = new Set(known.map((k) => seriesId(k.scope, k.key)));
  const added: MetricKey[] = [];
  for (const e of events)
    for (const [key, value] of Object.entries(e.values)) {
      const id = seriesId(e.scope, key);
      next[id] = appendPoint(next[id], { x: e.step, y: value });
      if (!ids.has(id)) {
        ids.add(id);
        added.push({ scope: e.scope, key });
      }
    }
  return { points: next, added };
}
