/**
 * What a run page reads out of a run's stored summary and config (the shapes src-main/jobs/runners.ts and
 * scalarRunner.ts write): the key figures per kind, the SAE quality rows, the SCALAR pair rows.
 */
import type { RunDetail } from '../../../src-shared/api.ts';
import { describeEvalProtocol, evalProtocolOf } from '../../../src-shared/evalProtocol.ts';
import { formatNumber } from '../../lib/charts/plot.ts';
import { formatCount } from '../../lib/format.ts';

export interface Figure {
  label: string;
  value: string;
  /** Longer explanation or the exact value, shown on hover. */
  title?: string;
  testid?: string;
}

type Obj = Record<string, unknown>;

export const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
export const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});

function mean(xs: (number | null)[]): number | null {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
}

/** The job config inside a run's stored config (`{kind, config}`). */
export function jobConfig(run: RunDetail): Obj {
  return obj(obj(run.config).config);
}

export interface SaeRow {
  hook: string;
  d_sae: number | null;
  l0: number | null;
  l0PerChunk: number[] | null;
  mse: number | null;
  explained_variance: number | null;
  ce_loss_increase: number | null;
  kl_div: number | null;
  /** 1 − frac_alive; null when the run did not track firing (imported SAEs). */
  dead: number | null;
}

export function saeRows(run: RunDetail): SaeRow[] {
  const saes = obj(run.summary).saes;
  if (!Array.isArray(saes)) return [];
  return saes.map((raw) => {
    const s = obj(raw);
    const alive = num(s.frac_alive);
    return {
      hook: str(s.hook) ?? '?',
      d_sae: num(s.d_sae),
      l0: num(s.l0),
      l0PerChunk: Array.isArray(s.l0_per_chunk) ? s.l0_per_chunk.map((c) => Number(c)) : null,
      mse: num(s.mse),
      explained_variance: num(s.explained_variance),
      ce_loss_increase: num(s.ce_loss_increase),
      kl_div: num(s.kl_div),
      dead: alive === null ? null : 1 - alive,
    };
  });
}

export interface ScalarPairRow {
  label: string;
  up: string | null;
  down: string | null;
  f0: number | null;
  f1: number | null;
  edges: number | null;
  abs: [number | null, number | null, number | null];
  rel: [number | null, number | null, number | null];
  log2: [number | null, number | null, number | null];
  fullKl: number | null;
  seconds: number | null;
  /** Peak resident memory measured over the pair, its memory bound and declared peak (MB); null before. */
  peakRssMb: number | null;
  boundMb: number | null;
  accountedMb: number | null;
}

export function scalarPairRows(pairs: Obj[]): ScalarPairRow[] {
  const ci = (p: Obj, k: string): [number | null, number | null, number | null] => [
    num(p[k]),
    num(p[`${k}_lo`]),
    num(p[`${k}_hi`]),
  ];
  return pairs.map((p) => {
    const a = num(p.attribution_seconds);
    const b = num(p.ablation_seconds);
    return {
      label: str(p.label) ?? (p.pair === undefined ? '?' : `pair ${String(p.pair)}`),
      up: str(p.up),
      down: str(p.down),
      f0: num(p.f0),
      f1: num(p.f1),
      edges: num(p.edges),
      abs: ci(p, 'scalar_auc_abs'),
      rel: ci(p, 'scalar_auc_rel'),
      log2: ci(p, 'scalar_auc_log2'),
      fullKl: num(p.full_circuit_kl),
      seconds: a === null && b === null ? null : (a ?? 0) + (b ?? 0),
      peakRssMb: num(p.peak_rss_mb),
      boundMb: num(p.memory_bound_mb),
      accountedMb: num(p.memory_accounted_peak_mb),
    };
  });
}

/** The pairs of a SCALAR run's stored eval record (before `runs.scalar` answers). */
export function summaryPairs(run: RunDetail): Obj[] {
  const pairs = obj(obj(run.summary).eval_result_metrics).pairs;
  return Array.isArray(pairs) ? pairs.map(obj) : [];
}

const f = (v: number | null, digits = 4) => formatNumber(v, digits);
const exact = (v: number | null) => (v === null ? undefined : String(v));

/** The handful of numbers that say how the run went. Empty until the run has a summary. */
export function keyFigures(run: RunDetail): Figure[] {
  const s = obj(run.summary);
  const out: Figure[] = [];
  const add = (label: string, v: number | null, value = f(v), title = exact(v)) => {
    if (v !== null) out.push({ label, value, title, testid: `figure-${label.replace(/\W+/g, '-')}` });
  };
  if (run.kind === 'lm') {
    add('val loss', num(s.valLoss), f(num(s.valLoss)), 'best validation loss (nats/token)');
    add('best step', num(s.bestStep), String(num(s.bestStep)));
    add('final val loss', num(s.finalValLoss));
    add('train loss', num(s.trainLoss));
    add('params', num(s.params), formatCount(num(s.params)), exact(num(s.params)));
    add('steps', num(s.steps), String(num(s.steps)));
    add('tokens/s', num(s.tokensPerSecond), formatCount(Math.round(num(s.tokensPerSecond) ?? 0)));
  } else if (run.kind === 'sae') {
    const rows = saeRows(run);
    add('mean EV', mean(rows.map((r) => r.explained_variance)));
    add('mean L0', mean(rows.map((r) => r.l0)));
    add(
      'compound ΔCE',
      num(s.compoundCeLossIncrease),
      undefined,
      'CE increase with every SAE spliced in (nats)',
    );
    add('compound KL', num(s.compoundKlDiv));
    add('clean CE', num(s.cleanCe));
    add('Jacobian L1', num(s.jacobianL1));
    add('params', num(s.params), formatCount(num(s.params)), exact(num(s.params)));
    add('steps', num(s.steps), String(num(s.steps)));
    add('tokens/s', num(s.tokensPerSecond), formatCount(Math.round(num(s.tokensPerSecond) ?? 0)));
  } else if (run.kind === 'scalar') {
    const rows = scalarPairRows(summaryPairs(run));
    add(
      'mean AUC abs',
      mean(rows.map((r) => r.abs[0])),
      undefined,
      'mean over pairs of the absolute SCALAR area',
    );
    add('mean AUC rel', mean(rows.map((r) => r.rel[0])));
    add('mean AUC log₂', mean(rows.map((r) => r.log2[0])));
    add('pairs', rows.length || null, String(rows.length));
  } else if (run.kind === 'reproduce' && Array.isArray(s.claims)) {
    // How the paper's claims fared; the report itself is drawn below the tiles.
    const verdicts = (s.claims as { verdict?: unknown }[]).map((c) => c.verdict);
    // Short labels so the tiles do not truncate; the mark matches the report's badges.
    const tiles = [
      ['holds', 'hold ✔'],
      ['does not hold', 'do not hold ✘'],
      ['within noise', 'within noise ≈'],
      ['not run', 'not run –'],
    ] as const;
    for (const [v, label] of tiles)
      add(label, verdicts.filter((x) => x === v).length, undefined, `claims whose verdict is “${v}”`);
  }
  return out;
}

/** Facts of the config worth a glance in the header (architecture, preset, …). */
export function configFacts(run: RunDetail): { label: string; value: string }[] {
  const c = jobConfig(run);
  const facts: { label: string; value: string }[] = [];
  const add = (label: string, v: unknown) => {
    if (v !== undefined && v !== null && v !== '') facts.push({ label, value: String(v) });
  };
  add('preset', c.preset);
  add('arch', run.arch ?? c.arch);
  add('setup', run.setup ?? c.setup);
  if (run.kind === 'sae') {
    add('width', c.width);
    add('k', c.k);
  }
  if (run.kind === 'scalar') {
    add('ranking', c.ranking);
    add('target', c.target);
  }
  // Which validation tokens the losses / metrics come from; a run made before the fixed protocol says so.
  if (run.kind === 'lm' || run.kind === 'sae') add('evaluation', describeEvalProtocol(evalProtocolOf(c)));
  return facts;
}
