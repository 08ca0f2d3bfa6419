/**
 * The run page's pure parts: which training charts a run's metric keys give (and how live points join them),
 * what it reads out of stored summaries (SAE quality rows, SCALAR pair rows, key figures), and the chart
 * helpers every chart shares (number formats, log ticks, palette).
 */
import { describe, expect, it } from 'vitest';
import type { RunDetail } from '../../src-shared/api.ts';
import { PALETTE, seriesColor } from '../../src-renderer/lib/charts/palette.ts';
import {
  colouredSeries,
  formatNumber,
  formatTick,
  hasPoints,
  logTicks,
} from '../../src-renderer/lib/charts/plot.ts';
import {
  appendPoint,
  applyLive,
  byHookOrder,
  chartSeries,
  curveCharts,
  uniqueKeys,
} from '../../src-renderer/views/run/curves.ts';
import { configFacts, keyFigures, saeRows, scalarPairRows } from '../../src-renderer/views/run/figures.ts';

const keys = (scope: string, ...names: string[]) => names.map((key) => ({ scope, key }));

function detail(kind: string, summary: unknown): RunDetail {
  return {
    id: `${kind}-1`,
    kind,
    name: '',
    parentId: null,
    parentName: null,
    status: 'completed',
    seed: 0,
    backend: 'wasm',
    createdAt: '2026-01-01T00:00:00Z',
    startedAt: null,
    finishedAt: null,
    wallSeconds: null,
    progress: null,
    summary,
    config: {},
    error: null,
    note: '',
    tags: [],
    arch: null,
    setup: null,
    headline: {},
    childCount: 0,
    metricKeys: [],
    artifacts: [],
    ancestors: [],
    children: [],
    statusHistory: [],
    lmRef: null,
  };
}

describe('training charts from metric keys', () => {
  it('draws an LM run as loss (train + validation) and learning rate', () => {
    const charts = curveCharts('lm', keys('', 'train_loss', 'val_loss', 'lr'));
    expect(charts.map((c) => c.id)).toEqual(['loss', 'lr']);
    expect(charts[0].members.map((m) => m.label)).toEqual(['train', 'validation']);
  });

  it('draws an SAE run per metric with a series per hook in model order, compound figures dashed', () => {
    const hooks = ['blocks.1.hook_resid_post', 'blocks.0.hook_resid_pre', 'blocks.1.hook_resid_pre'];
    const charts = curveCharts('sae', [
      ...keys('', 'train_loss', 'clean_ce', 'compound_ce_loss_increase', 'compound_kl_div'),
      ...hooks.flatMap((h) =>
        keys(h, 'train_loss', 'mse', 'l0', 'frac_alive', 'ce_loss_increase', 'l0_chunk_0'),
      ),
    ]);
    expect(charts.map((c) => c.id)).toEqual([
      'train_loss',
      'mse',
      'l0',
      'frac_alive',
      'ce_loss_increase',
      'kl_div',
      'l0_chunk',
    ]);
    const train = charts[0].members;
    expect(train.map((m) => m.label)).toEqual([
      'blocks.0.hook_resid_pre',
      'blocks.1.hook_resid_pre',
      'blocks.1.hook_resid_post',
      'total',
    ]);
    expect(train[3].dashed).toBe(true);
    expect(charts.find((c) => c.id === 'kl_div')!.members).toEqual([
      { scope: '', key: 'compound_kl_div', label: 'compound', dashed: true },
    ]);
    // clean CE is a constant of the run: no chart
    expect(charts.flatMap((c) => c.members).some((m) => m.key === 'clean_ce')).toBe(false);
  });

  it('gives unknown keys a chart of their own and SCALAR runs none', () => {
    expect(curveCharts('lm', keys('', 'grad_norm')).map((c) => c.id)).toEqual(['other:grad_norm']);
    expect(curveCharts('scalar', keys('tblock:0', 'scalar_auc_abs'))).toEqual([]);
  });

  it('draws dead fraction from frac_alive', () => {
    const [chart] = curveCharts('sae', keys('blocks.0.hook_resid_pre', 'frac_alive'));
    const [s] = chartSeries(chart, { 'blocks.0.hook_resid_pre\u241ffrac_alive': [{ x: 10, y: 0.75 }] });
    expect(s.points).toEqual([{ x: 10, y: 0.25 }]);
  });

  it('orders hooks as the model runs them', () => {
    const hooks = ['blocks.10.hook_resid_pre', 'blocks.2.hook_resid_post', 'blocks.2.hook_resid_pre', 'x'];
    expect([...hooks].sort(byHookOrder)).toEqual([
      'blocks.2.hook_resid_pre',
      'blocks.2.hook_resid_post',
      'blocks.10.hook_resid_pre',
      'x',
    ]);
  });
});

describe('live points', () => {
  it('appends forward, replaces a repeated step, inserts a late one in order', () => {
    let s = appendPoint(undefined, { x: 10, y: 1 });
    s = appendPoint(s, { x: 20, y: 2 });
    s = appendPoint(s, { x: 20, y: 3 });
    s = appendPoint(s, { x: 15, y: 4 });
    expect(s).toEqual([
      { x: 10, y: 1 },
      { x: 15, y: 4 },
      { x: 20, y: 3 },
    ]);
  });

  it('applies metric events and reports keys it had not seen', () => {
    const known = keys('', 'train_loss');
    const { points, added } = applyLive({ '\u241ftrain_loss': [{ x: 1, y: 5 }] }, known, [
      { step: 2, scope: '', values: { train_loss: 4, val_loss: 4.5 } },
      { step: 3, scope: '', values: { train_loss: 3 } },
    ]);
    expect(points['\u241ftrain_loss'].map((p) => p.x)).toEqual([1, 2, 3]);
    expect(added).toEqual([{ scope: '', key: 'val_loss' }]);
    expect(uniqueKeys(known, added, known)).toEqual([...known, ...added]);
  });
});

describe('what the page reads from stored summaries', () => {
  it('reads SAE quality rows with dead = 1 − frac_alive (null when not tracked)', () => {
    const run = detail('sae', {
      saes: [
        { hook: 'h0', d_sae: 128, l0: 10, mse: 0.1, explained_variance: 0.9, frac_alive: 0.75 },
        { hook: 'h1', d_sae: 128, l0: 9, frac_alive: null },
      ],
      compoundCeLossIncrease: 0.2,
    });
    const rows = saeRows(run);
    expect(rows.map((r) => r.dead)).toEqual([0.25, null]);
    const figures = keyFigures(run);
    expect(figures.find((f) => f.label === 'mean L0')?.value).toBe('9.5');
    expect(figures.find((f) => f.label === 'compound ΔCE')?.value).toBe('0.2');
  });

  it('says which evaluation protocol an LM / SAE run used: a config without one is a legacy run', () => {
    const evaluation = (config: unknown, kind = 'lm') =>
      configFacts({ ...detail(kind, null), config: { kind: 'train-lm', config } }).find(
        (f) => f.label === 'evaluation',
      )?.value;
    expect(evaluation({ schedule: { evalBatches: 8, batchSize: 16, seqLen: 128 } })).toBe(
      'legacy-batches (8 batches × 16 windows; depends on the batch size)',
    );
    expect(evaluation({ evaluation: { protocol: 'fixed-v1', valTokens: null } })).toBe(
      'fixed-v1 (whole validation split)',
    );
    expect(evaluation({ evaluation: { protocol: 'fixed-v1', evalTokens: 16384 } }, 'sae')).toBe(
      'fixed-v1 (16384 validation tokens)',
    );
    expect(evaluation({}, 'scalar')).toBeUndefined();
  });

  it('reads SCALAR pairs with their CIs, from the eval record or from metrics alone', () => {
    const [full] = scalarPairRows([
      {
        label: 'tblock:0',
        up: 'blocks.0.hook_resid_pre',
        down: 'blocks.1.hook_resid_pre',
        f0: 64,
        f1: 128,
        scalar_auc_abs: 10,
        scalar_auc_abs_lo: 9,
        scalar_auc_abs_hi: 11,
        attribution_seconds: 1,
        ablation_seconds: 2,
        memory_bound_mb: 4000,
        memory_accounted_peak_mb: 812.5,
        peak_rss_mb: 1023.4,
      },
    ]);
    expect(full.abs).toEqual([10, 9, 11]);
    expect([full.peakRssMb, full.boundMb, full.accountedMb]).toEqual([1023.4, 4000, 812.5]);
    expect(full.rel).toEqual([null, null, null]);
    expect(full.seconds).toBe(3);
    const [bare] = scalarPairRows([{ label: 'tblock:1', scalar_auc_rel: 0.5 }]);
    expect(bare.up).toBeNull();
    expect(bare.rel[0]).toBe(0.5);
    expect(bare.peakRssMb).toBeNull();
  });
});

describe('chart helpers', () => {
  it('formats numbers as researchers read them', () => {
    expect(formatNumber(0.123456)).toBe('0.1235');
    expect(formatNumber(4251.59)).toBe('4,252');
    expect(formatNumber(0.00012)).toBe('1.20e-4');
    expect(formatNumber(null)).toBe('—');
    expect(formatTick(25000)).toBe('25k');
    expect(formatTick(0.0025)).toBe('0.0025');
  });

  it('ticks a log axis at powers of ten, adding 2× and 5× over short ranges', () => {
    expect(logTicks(1, 16383)).toEqual([1, 10, 100, 1000, 10000]);
    expect(logTicks(3, 40)).toEqual([5, 10, 20]);
    expect(logTicks(0, 10)).toEqual([]);
  });

  it('keeps a series colour when others are hidden, and knows an empty chart', () => {
    const s = colouredSeries([
      { label: 'a', points: [] },
      { label: 'b', points: [{ x: 1, y: Number.NaN }], color: '#123456' },
      { label: 'c', points: [] },
    ]);
    expect(s.map((x) => x.color)).toEqual([PALETTE[0], '#123456', PALETTE[2]]);
    expect(seriesColor(PALETTE.length)).toBe(PALETTE[0]);
    expect(hasPoints(s)).toBe(false);
    expect(hasPoints([{ label: 'a', points: [{ x: 0, y: 0 }] }])).toBe(true);
  });
});
