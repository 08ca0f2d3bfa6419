/**
 * The verdict rule of `scalar reproduce`, one number at a time. A claim's quantity (e.g. a % reduction vs TopK)
 * has one value per seed. Its 95 % interval is
 *   - with n ≥ 2 seeds: the t-interval of the seed mean, mean ± t(0.975, n−1)·sd/√n (seed-to-seed spread is the
 *     noise that matters: it dwarfs the token bootstrap of one seed);
 *   - with 1 seed: that seed's paired-bootstrap CI where the quantity has one (% reductions), else none.
 * A sign claim holds when the interval excludes 0 on the claimed side, does not hold when it excludes 0 on the other
 * side, and is within noise otherwise (or without an interval). A range claim holds when the interval lies inside
 * the range, does not hold when it lies wholly outside, and is within noise otherwise.
 */
import { meanSd } from '../compare/seeds.ts';

export type Verdict = 'holds' | 'does not hold' | 'within noise';
/** A claim none of whose runs this reproduction trained. */
export type ClaimVerdict = Verdict | 'not run';

export type Expectation = { kind: 'sign'; sign: 1 | -1 } | { kind: 'range'; lo: number; hi: number };

export interface Judged {
  n: number;
  mean: number | null;
  sd: number | null;
  ci: [number, number] | null;
  /** Where the interval comes from. */
  ciKind: 'seed t-interval' | 'paired bootstrap (1 seed)' | null;
  values: number[];
  verdict: Verdict;
  reason: string;
}

/** t(0.975, df) for df = 1..30; past 30 the normal 1.96 is within 4 %. */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];
export const t975 = (df: number): number => (df >= 1 && df <= 30 ? T975[df - 1] : 1.96);

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(3));

/** An expectation as the report's "Expected" column writes it: `> 0`, `< 0`, `25–45`. */
export function expectationText(e: Expectation): string {
  return e.kind === 'sign' ? (e.sign > 0 ? '> 0' : '< 0') : `${e.lo}–${e.hi}`;
}

/** Judge per-seed values (non-finite ones dropped) against an expectation; `bootstrapCi` is used for 1 seed. */
export function judge(
  values: (number | null | undefined)[],
  expect: Expectation,
  bootstrapCi?: [number | null, number | null] | null,
): Judged {
  const xs = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const stat = meanSd(xs);
  const base = { n: xs.length, mean: stat?.mean ?? null, sd: stat?.sd ?? null, values: xs };
  if (!stat) return { ...base, ci: null, ciKind: null, verdict: 'within noise', reason: 'no value' };
  let ci: [number, number] | null = null;
  let ciKind: Judged['ciKind'] = null;
  if (stat.n >= 2) {
    const half = (t975(stat.n - 1) * stat.sd) / Math.sqrt(stat.n);
    ci = [stat.mean - half, stat.mean + half];
    ciKind = 'seed t-interval';
  } else if (
    bootstrapCi &&
    typeof bootstrapCi[0] === 'number' &&
    typeof bootstrapCi[1] === 'number' &&
    Number.isFinite(bootstrapCi[0]) &&
    Number.isFinite(bootstrapCi[1])
  ) {
    ci = [bootstrapCi[0], bootstrapCi[1]];
    ciKind = 'paired bootstrap (1 seed)';
  }
  if (!ci)
    return { ...base, ci, ciKind, verdict: 'within noise', reason: 'one seed and no interval to judge by' };
  const [lo, hi] = ci;
  const at = `95 % CI [${fmt(lo)}, ${fmt(hi)}]`;
  if (expect.kind === 'sign') {
    const side = expect.sign > 0 ? 'above' : 'below';
    const other = expect.sign > 0 ? 'below' : 'above';
    if ((expect.sign > 0 && lo > 0) || (expect.sign < 0 && hi < 0))
      return { ...base, ci, ciKind, verdict: 'holds', reason: `${at} lies ${side} 0` };
    if ((expect.sign > 0 && hi < 0) || (expect.sign < 0 && lo > 0))
      return { ...base, ci, ciKind, verdict: 'does not hold', reason: `${at} lies ${other} 0` };
    return { ...base, ci, ciKind, verdict: 'within noise', reason: `${at} includes 0` };
  }
  if (lo >= expect.lo && hi <= expect.hi)
    return {
      ...base,
      ci,
      ciKind,
      verdict: 'holds',
      reason: `${at} lies inside [${expect.lo}, ${expect.hi}]`,
    };
  if (hi < expect.lo || lo > expect.hi)
    return {
      ...base,
      ci,
      ciKind,
      verdict: 'does not hold',
      reason: `${at} lies outside [${expect.lo}, ${expect.hi}]`,
    };
  return {
    ...base,
    ci,
    ciKind,
    verdict: 'within noise',
    reason: `${at} overlaps an end of [${expect.lo}, ${expect.hi}]`,
  };
}

/** A claim made of several tests ("at every pair"): all hold → holds; any does not → does not hold. */
export function combine(verdicts: Verdict[]): ClaimVerdict {
  if (verdicts.length === 0) return 'not run';
  if (verdicts.includes('does not hold')) return 'does not hold';
  return verdicts.every((v) => v === 'holds') ? 'holds' : 'within noise';
}
