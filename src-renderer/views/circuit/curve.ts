/**
 * The edge budget N and the SCALAR curve: KL at any N (log-linear between the stored budgets), the N at which a
 * curve reaches a given KL (for A/B at equal KL), and the slider's log scale.
 */

export interface CurvePoint {
  n: number;
  mean: number | null;
  lo: number | null;
  hi: number | null;
}

export interface KlReading {
  mean: number;
  lo: number | null;
  hi: number | null;
  /** Whether N is one of the stored budgets (else the values are interpolated between its neighbours). */
  exact: boolean;
}

/** One KL readout beside the budget slider. */
export interface Readout {
  label: string;
  /** The budget this curve is read at (A/B at equal KL: B's own N). */
  n: number;
  reading: KlReading | null;
  color?: string;
  testid?: string;
}

/** Stored points with a mean, by N. */
export function measured(points: CurvePoint[]): (CurvePoint & { mean: number })[] {
  return points
    .filter((p): p is CurvePoint & { mean: number } => p.mean !== null && Number.isFinite(p.mean) && p.n > 0)
    .sort((a, b) => a.n - b.n);
}

const lerp = (a: number, b: number, t: number) => a + (b - a) * t;
const lerpNull = (a: number | null, b: number | null, t: number) =>
  a === null || b === null ? null : lerp(a, b, t);

/** KL at budget n: the stored point, or linear in log₂ N between the two stored budgets around it. */
export function klAt(points: CurvePoint[], n: number): KlReading | null {
  const ps = measured(points);
  if (ps.length === 0 || !(n > 0)) return null;
  const hit = ps.find((p) => p.n === n);
  if (hit) return { mean: hit.mean, lo: hit.lo, hi: hit.hi, exact: true };
  if (n < ps[0].n || n > ps[ps.length - 1].n) return null;
  const k = ps.findIndex((p) => p.n > n);
  const a = ps[k - 1];
  const b = ps[k];
  const t = (Math.log2(n) - Math.log2(a.n)) / (Math.log2(b.n) - Math.log2(a.n));
  return {
    mean: lerp(a.mean, b.mean, t),
    lo: lerpNull(a.lo, b.lo, t),
    hi: lerpNull(a.hi, b.hi, t),
    exact: false,
  };
}

/**
 * The smallest budget (log-interpolated, rounded up) at which the curve's mean KL is at most `kl`; the largest
 * stored budget when it never gets there, the smallest when it always is. Clamped to [1, maxN].
 */
export function nForKl(points: CurvePoint[], kl: number, maxN: number): number {
  const ps = measured(points);
  if (ps.length === 0) return Math.max(1, maxN);
  const clamp = (n: number) => Math.max(1, Math.min(maxN, Math.ceil(n - 1e-9)));
  if (ps[0].mean <= kl) return clamp(ps[0].n);
  for (let k = 1; k < ps.length; k++) {
    const a = ps[k - 1];
    const b = ps[k];
    if (b.mean <= kl) {
      const t = a.mean === b.mean ? 1 : (a.mean - kl) / (a.mean - b.mean);
      return clamp(2 ** lerp(Math.log2(a.n), Math.log2(b.n), t));
    }
  }
  return clamp(ps[ps.length - 1].n);
}

/** Slider positions: 0 … SLIDER_STEPS map to N = 1 … maxN on a log scale. */
export const SLIDER_STEPS = 1000;

export function nFromSlider(pos: number, maxN: number): number {
  if (maxN <= 1) return Math.max(0, maxN);
  const t = Math.max(0, Math.min(1, pos / SLIDER_STEPS));
  return Math.max(1, Math.min(maxN, Math.round(2 ** (t * Math.log2(maxN)))));
}

export function sliderFromN(n: number, maxN: number): number {
  if (maxN <= 1 || n <= 1) return 0;
  return Math.round((Math.log2(Math.min(n, maxN)) / Math.log2(maxN)) * SLIDER_STEPS);
}

/** The stored budgets at or below maxN (for stepping the slider from one to the next). */
export function storedBudgets(points: CurvePoint[], maxN: number): number[] {
  return measured(points)
    .map((p) => p.n)
    .filter((n) => n <= maxN);
}

/** The next stored budget above (dir 1) or below (dir −1) n, or n itself at the end. */
export function stepBudget(budgets: number[], n: number, dir: 1 | -1): number {
  if (dir > 0) return budgets.find((b) => b > n) ?? n;
  return [...budgets].reverse().find((b) => b < n) ?? n;
}
