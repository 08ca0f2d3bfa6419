/**
 * The reproduction's claim evaluation on hand-made per-seed numbers whose verdicts are worked by hand:
 * 3 seeds → 95 % CI = mean ± t(0.975, 2)·sd/√3 with t = 4.303, so values (a−10, a, a+10) give sd 10 and a half
 * width of 4.303·10/√3 = 24.843; equal values give a zero-width interval.
 */
import { describe, expect, it } from 'vitest';
import {
  evaluateClaims,
  newChunkShares,
  type ReproduceInputs,
  type SeedReduction,
  type SeedSae,
} from '../../src-shared/reproduce/claims.ts';
import { evaluateFindings } from '../../src-shared/reproduce/findings.ts';
import { reproduceFigures } from '../../src-shared/reproduce/figures.ts';
import { buildReport, reportMarkdown } from '../../src-shared/reproduce/report.ts';
import { judge } from '../../src-shared/reproduce/verdict.ts';

const HALF = 24.843; // 4.303 · 10 / √3
const SEEDS = [0, 1, 2];

function red(
  setup: SeedReduction['setup'],
  arch: SeedReduction['arch'],
  pair: number,
  abs: number[],
  rel: number[],
  target: SeedReduction['target'] = 'model',
): SeedReduction[] {
  return SEEDS.map((seed) => ({
    setup,
    arch,
    seed,
    pair,
    target,
    abs: abs[seed],
    rel: rel[seed],
    absCi: null,
    relCi: null,
  }));
}
const spread = (a: number) => [a - 10, a, a + 10];
const same = (a: number) => [a, a, a];

function sae(
  setup: SeedSae['setup'],
  arch: SeedSae['arch'],
  ce: number,
  shares: number[][] = [],
  mlpOutEv: number[] | null = null,
): SeedSae[] {
  return SEEDS.map((seed) => ({
    setup,
    arch,
    seed,
    compoundCe: ce,
    mlpOutEv: mlpOutEv ? mlpOutEv[seed] : null,
    jacobianL1: arch === 'jsae' ? 0.002 : null,
    newChunkShare: shares.length ? [null, ...shares.map((s) => s[seed])] : [],
  }));
}

/** tblock: relative reductions 60, 70, 80, 90 (±10 over seeds) — positive and rising by exactly 10 per pair. */
const inputs: ReproduceInputs = {
  seeds: SEEDS,
  trained: [
    { setup: 'tblock', arch: 'topk' },
    { setup: 'tblock', arch: 'staircase' },
    { setup: 'tblock', arch: 'staircase-shared-bias' },
    { setup: 'ffblock', arch: 'topk' },
    { setup: 'ffblock', arch: 'staircase' },
    { setup: 'fflayer', arch: 'topk' },
    { setup: 'fflayer', arch: 'jsae' },
  ],
  reductions: [
    ...red('tblock', 'staircase', 0, spread(10), spread(60)),
    ...red('tblock', 'staircase', 1, spread(-60), spread(70)),
    ...red('tblock', 'staircase', 2, spread(20), spread(80)),
    ...red('tblock', 'staircase', 3, spread(60), spread(90)),
    ...red('ffblock', 'staircase', 0, spread(50), spread(60)),
    ...red('ffblock', 'staircase', 1, spread(0), spread(20)),
    ...red('fflayer', 'jsae', 0, spread(-80), spread(-80)),
    ...red('fflayer', 'jsae', 1, spread(40), spread(40)),
    ...red('fflayer', 'jsae', 2, spread(30), spread(30)),
    ...red('fflayer', 'jsae', 3, spread(-50), spread(-50)),
    // Against the full circuit: pair 1 better on every seed, pair 2 worse (the docs/jsae.md pattern).
    ...red('fflayer', 'jsae', 0, spread(-30), spread(-30), 'circuit'),
    ...red('fflayer', 'jsae', 1, same(10), same(10), 'circuit'),
    ...red('fflayer', 'jsae', 2, same(-45), same(-45), 'circuit'),
    ...red('fflayer', 'jsae', 3, same(-50), same(-50), 'circuit'),
  ],
  saes: [
    ...sae('tblock', 'topk', 0.5),
    ...sae('tblock', 'staircase', 0.4, [same(35), spread(35)]),
    ...sae('tblock', 'staircase-shared-bias', 0.45),
    ...sae('ffblock', 'staircase', 0.3, [same(80)]),
    // JSAE: EV 0.80 / 0.82 / 0.84 vs TopK 0.97 on every seed → paired differences −0.17, −0.15, −0.13.
    ...sae('fflayer', 'topk', 0.8, [], [0.97, 0.97, 0.97]),
    ...sae('fflayer', 'jsae', 1.3, [], [0.8, 0.82, 0.84]),
  ],
};

const claims = evaluateClaims(inputs);
const claim = (id: string) => claims.find((c) => c.id === id)!;
const test = (id: string, label: string) => claim(id).tests.find((t) => t.label === label)!;

describe('verdict rule', () => {
  it('3 seeds: the t-interval of the mean decides; holds / does not hold / within noise', () => {
    const h = judge([50, 60, 70], { kind: 'sign', sign: 1 });
    expect(h.mean).toBe(60);
    expect(h.sd).toBeCloseTo(10, 12);
    expect(h.ci![0]).toBeCloseTo(60 - HALF, 3);
    expect(h.ci![1]).toBeCloseTo(60 + HALF, 3);
    expect(h.verdict).toBe('holds');
    expect(judge([-70, -60, -50], { kind: 'sign', sign: 1 }).verdict).toBe('does not hold');
    // 20 ± 24.843 includes 0.
    expect(judge([10, 20, 30], { kind: 'sign', sign: 1 }).verdict).toBe('within noise');
    expect(judge([10, 20, 30], { kind: 'sign', sign: -1 }).verdict).toBe('within noise');
    expect(judge([-70, -60, -50], { kind: 'sign', sign: -1 }).verdict).toBe('holds');
  });

  it('1 seed: the paired-bootstrap CI, or within noise when there is none', () => {
    const one = judge([20], { kind: 'sign', sign: 1 }, [5, 35]);
    expect(one.ci).toEqual([5, 35]);
    expect(one.ciKind).toBe('paired bootstrap (1 seed)');
    expect(one.verdict).toBe('holds');
    expect(judge([20], { kind: 'sign', sign: 1 }, [-5, 35]).verdict).toBe('within noise');
    expect(judge([20], { kind: 'sign', sign: -1 }, [5, 35]).verdict).toBe('does not hold');
    const none = judge([0.1], { kind: 'sign', sign: 1 });
    expect(none.ci).toBeNull();
    expect(none.verdict).toBe('within noise');
  });

  it('range claims: inside → holds, wholly outside → does not hold, overlapping an end → within noise', () => {
    expect(judge([35, 35, 35], { kind: 'range', lo: 25, hi: 45 }).verdict).toBe('holds');
    expect(judge([80, 80, 80], { kind: 'range', lo: 25, hi: 45 }).verdict).toBe('does not hold');
    // 35 ± 24.843 reaches past both ends.
    expect(judge([25, 35, 45], { kind: 'range', lo: 25, hi: 45 }).verdict).toBe('within noise');
  });
});

describe('claims on hand-made stored results', () => {
  it('Staircase relative < TopK at every pair: tblock holds, ffblock pair 1 (20 ± 24.8) is within noise', () => {
    expect(test('staircase-rel-every-pair', 'tblock pair 0').ours.verdict).toBe('holds');
    expect(test('staircase-rel-every-pair', 'tblock pair 0').published).toBe(53.48);
    expect(test('staircase-rel-every-pair', 'ffblock pair 0').published).toBe(77.78);
    expect(test('staircase-rel-every-pair', 'ffblock pair 1').ours.verdict).toBe('within noise');
    expect(claim('staircase-rel-every-pair').verdict).toBe('within noise');
  });

  it('tblock absolute higher at pairs 1–3: pair 1 holds, pair 2 within noise, pair 3 does not → does not hold', () => {
    const c = claim('staircase-tblock-abs-higher');
    expect(c.tests.map((t) => t.label)).toEqual(['tblock pair 1', 'tblock pair 2', 'tblock pair 3']);
    expect(c.tests.map((t) => t.ours.verdict)).toEqual(['holds', 'within noise', 'does not hold']);
    expect(c.tests.map((t) => t.published)).toEqual([-64.5, -107.42, -125.53]);
    expect(c.verdict).toBe('does not hold');
  });

  it('relative reduction rises with depth: +10 at every step for every seed (zero-width CI) → holds', () => {
    const c = claim('tblock-rel-rises');
    expect(c.tests.map((t) => t.ours.mean)).toEqual([10, 10, 10]);
    expect(c.tests.map((t) => t.published)).toEqual([19.12, 10.19, 6.04]);
    expect(c.verdict).toBe('holds');
  });

  it('new-chunk share: 35 → holds, 35 ± 24.8 → within noise, ffblock 80 → does not hold', () => {
    expect(test('new-chunk-share', 'tblock position 1').ours.verdict).toBe('holds');
    expect(test('new-chunk-share', 'tblock position 2').ours.verdict).toBe('within noise');
    expect(test('new-chunk-share', 'ffblock position 1').ours.verdict).toBe('does not hold');
    expect(claim('new-chunk-share').verdict).toBe('does not hold');
  });

  it('variants: shared bias 0.05 nats worse on every seed → holds; detach was not trained → not run', () => {
    const v = claim('variants-worse');
    expect(v.tests.map((t) => t.label)).toEqual(['staircase-shared-bias']);
    expect(v.tests[0].ours.mean).toBeCloseTo(0.05, 12);
    expect(v.verdict).toBe('holds');
    expect(claim('detach-no-reuse').verdict).toBe('not run');
    expect(claim('detach-no-reuse').notRun).toMatch(/staircase-detach/);
  });

  it('JSAE better only at fflayer pairs 1–2: 40 ± 10 and 30 ± 10 > 0, −80 and −50 < 0 → holds', () => {
    const c = claim('jsae-fflayer-1-2');
    expect(c.tests.map((t) => t.expect)).toEqual(['< 0', '> 0', '> 0', '< 0']);
    expect(c.tests.map((t) => t.ours.verdict)).toEqual(['holds', 'holds', 'holds', 'holds']);
    expect(c.verdict).toBe('holds');
  });

  it('JSAE against the full circuit: a claim of its own; the model-target claim reads model rows only', () => {
    const c = claim('jsae-fflayer-1-2-circuit');
    expect(c.tests.map((t) => t.ours.mean)).toEqual([-30, 10, -45, -50]);
    expect(c.tests.map((t) => t.ours.verdict)).toEqual(['holds', 'holds', 'does not hold', 'holds']);
    expect(c.verdict).toBe('does not hold');
    expect(c.tests[0].quantity).toMatch(/full circuit/);
    // Unchanged by the circuit rows: −80, 40, 30, −50 are the model-target means.
    expect(claim('jsae-fflayer-1-2').tests.map((t) => t.ours.mean)).toEqual([-80, 40, 30, -50]);
  });

  it('JSAE against the full circuit missing from an older reproduction: says how to add it', () => {
    const older = evaluateClaims({
      ...inputs,
      reductions: inputs.reductions.filter((r) => r.target === 'model'),
    });
    const c = older.find((x) => x.id === 'jsae-fflayer-1-2-circuit')!;
    expect(c.verdict).toBe('not run');
    expect(c.notRun).toMatch(/run it again/);
  });

  it('finding: JSAE pays with mlp_out EV (−0.15 ± 0.02, every seed) and ΔCE (+0.5 nats) → holds', () => {
    const [f] = evaluateFindings(inputs);
    expect(f.id).toBe('jsae-reconstruction-cost');
    const [ev, ce] = f.tests;
    expect(ev.ours.values.map((v) => +v.toFixed(12))).toEqual([-0.17, -0.15, -0.13]);
    expect(ev.ours.sd).toBeCloseTo(0.02, 12);
    // t-interval −0.15 ± 4.303·0.02/√3 = ±0.0497: wholly below 0.
    expect(ev.ours.ci![1]).toBeCloseTo(-0.15 + (4.303 * 0.02) / Math.sqrt(3), 3);
    expect(ce.ours.mean).toBeCloseTo(0.5, 12);
    expect(f.verdict).toBe('holds');
  });

  it('compound ΔCE ordering: topk − staircase = 0.1 on every seed → holds; detach step absent', () => {
    const c = claim('compound-ce-order');
    expect(c.tests.map((t) => t.label)).toEqual(['topk − staircase']);
    expect(c.tests[0].ours.mean).toBeCloseTo(0.1, 12);
    expect(c.tests[0].published).toBeCloseTo(0.0709, 4);
    expect(c.verdict).toBe('holds');
  });

  it('new-chunk shares from mean active latents per chunk', () => {
    expect(newChunkShares([[8], [6, 2], [4, 2, 2], null])).toEqual([null, 25, 25, null]);
    // ffblock: one two-position staircase per block (resid_mid, resid_post); the list index is not the position.
    // (Before the fix, entries 2, 3 read row[2], row[3] of two-chunk rows: no value.)
    expect(newChunkShares([[10], [6, 4], [10], [7, 3]])).toEqual([null, 40, null, 30]);
  });

  it('new-chunk share at ffblock: one test per block, named by its hook, none for the first positions', () => {
    const labels = [
      'b0.mid (position 0)',
      'b0.post (position 1)',
      'b1.mid (position 0)',
      'b1.post (position 1)',
    ];
    const ff = SEEDS.map((seed) => ({
      setup: 'ffblock' as const,
      arch: 'staircase' as const,
      seed,
      compoundCe: 0.3,
      mlpOutEv: null,
      jacobianL1: null,
      newChunkShare: newChunkShares([[10], [6, 4], [10], [7, 3]]),
      newChunkLabels: labels,
    }));
    const c = evaluateClaims({
      ...inputs,
      saes: [...inputs.saes.filter((x) => x.setup !== 'ffblock'), ...ff],
    });
    const tests = c
      .find((x) => x.id === 'new-chunk-share')!
      .tests.filter((t) => t.label.startsWith('ffblock'));
    expect(tests.map((t) => [t.label, t.ours.mean])).toEqual([
      ['ffblock b0.post (position 1)', 40],
      ['ffblock b1.post (position 1)', 30],
    ]);
  });
});

describe('report', () => {
  it('both headline aggregates, labelled, with the published headline beside the paper-style relative one', () => {
    const aggregates = SEEDS.map((seed) => ({
      setup: 'tblock' as const,
      arch: 'staircase' as const,
      seed,
      abs: { one_unit: -40 + seed, paper_style: -30 + seed },
      rel: { one_unit: 70 + 10 * seed, paper_style: 60 },
    }));
    const r = buildReport({
      ...inputs,
      aggregates,
      config: {
        preset: 'quick',
        setups: ['fflayer', 'ffblock', 'tblock'],
        variants: false,
        lm: 'resources:x',
      },
      backend: 'wasm',
      figures: [],
      runs: [],
    });
    const rel = r.headline.filter((h) => h.measure === 'relative');
    expect(rel.map((h) => [h.aggregation, h.ours.mean, h.published?.mean ?? null])).toEqual([
      ['one unit', 80, null],
      ['paper-style', 60, 63.15],
    ]);
    const md = reportMarkdown(r);
    expect(md).toContain('one unit (Σ S_TopK vs Σ S_X, ours)');
    expect(md).toContain('paper-style (printed mantissas');
    expect(md).toContain('| 80.00 ± 10.00 |');
    expect(md).toContain('✘ does not hold');
    expect(md).toContain('– not run');
    expect(md).toMatch(/Staircase variants .* were not trained/);
    // Circuit-target rows: their own per-pair rows and a series of their own in the fflayer figure.
    const circuit = r.pairs.filter((p) => p.target === 'circuit');
    expect(circuit.map((p) => p.abs.mean)).toEqual([-30, 10, -45, -50]);
    expect(md).toContain('| fflayer | jsae | 1 | full circuit | 10.00 ± 0.00');
    expect(md).toContain('## Findings of ours, checked on these seeds');
    const fig = reproduceFigures(r).find((f) => f.name === 'reduction-fflayer-jsae-abs')!;
    expect(fig.series.map((x) => x.label)).toEqual([
      'ours (seed mean, 95 % CI)',
      'ours, KL against the full circuit',
      'published',
    ]);
    expect(fig.series[0].points.map((p) => p.y)).toEqual([-80, 40, 30, -50]);
  });
});
