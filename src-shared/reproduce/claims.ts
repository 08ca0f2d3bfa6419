/**
 * The paper's qualitative claims (SPEC §4.5 and the paper's ablations), each evaluated on the numbers a
 * reproduction stored: one or more tests per claim (a pair, a position, a variant), each with our figure (mean ±
 * sd over seeds, 95 % CI), the published figure where the paper prints one, and a verdict (./verdict.ts).
 */
import type { SaeArch, SaeSetup } from '../sae.ts';
import { PUBLISHED } from '../reproduce.ts';
import {
  combine,
  expectationText,
  judge,
  type ClaimVerdict,
  type Expectation,
  type Judged,
} from './verdict.ts';

/** % reductions of one arch vs TopK at one pair for one seed (`scalar compare`'s numbers). */
export interface SeedReduction {
  setup: SaeSetup;
  arch: SaeArch;
  seed: number;
  pair: number;
  /** SCALAR's KL target: the full model (every claim's default) or the full circuit (the JSAE claim, both). */
  target: 'model' | 'circuit';
  abs: number | null;
  rel: number | null;
  absCi: [number | null, number | null] | null;
  relCi: [number | null, number | null] | null;
}

/** An SAE run's figures the claims read: compound ΔCE and, for staircases, the new-chunk share per position. */
export interface SeedSae {
  setup: SaeSetup;
  arch: SaeArch;
  seed: number;
  compoundCe: number | null;
  /** Mean explained variance of the SAEs at `hook_mlp_out` (fflayer's outputs; null where the setup has none). */
  mlpOutEv: number | null;
  /** JSAE's mean Σ|J|/k² on the evaluation tokens (null for other archs). */
  jacobianL1: number | null;
  /** % of position p's mean active latents that come from its own chunk p (null for position 0 / not a staircase). */
  newChunkShare: (number | null)[];
  /** Names of the SAEs behind `newChunkShare` (hook and staircase position), for the tests' labels. */
  newChunkLabels?: string[];
}

export interface ReproduceInputs {
  seeds: number[];
  /** The (setup, arch) cells this reproduction trained. */
  trained: { setup: SaeSetup; arch: SaeArch }[];
  reductions: SeedReduction[];
  saes: SeedSae[];
}

export interface ClaimTest {
  label: string;
  /** What is measured, in words (its unit included). */
  quantity: string;
  expect: string;
  ours: Judged;
  published: number | null;
}

export interface ClaimResult {
  id: string;
  claim: string;
  /** How the claim is turned into numbers. */
  measure: string;
  tests: ClaimTest[];
  verdict: ClaimVerdict;
  /** Why the claim was not evaluated (its archs or setups were not trained). */
  notRun: string | null;
}

export type Test = {
  label: string;
  quantity: string;
  expect: Expectation;
  values: (number | null)[];
  boot?: SeedReduction['absCi'];
  published: number | null;
};

export const has = (x: ReproduceInputs, setup: SaeSetup, arch: SaeArch) =>
  x.trained.some((t) => t.setup === setup && t.arch === arch);

type Target = SeedReduction['target'];

function pairs(x: ReproduceInputs, setup: SaeSetup, arch: SaeArch, target: Target = 'model'): number[] {
  return [
    ...new Set(
      x.reductions
        .filter((r) => r.setup === setup && r.arch === arch && r.target === target)
        .map((r) => r.pair),
    ),
  ].sort((a, b) => a - b);
}

/** One seed's reductions at a pair (ordered by seed), and the bootstrap CI of the first (used when n = 1). */
function reductionTest(
  x: ReproduceInputs,
  setup: SaeSetup,
  arch: SaeArch,
  pair: number,
  which: 'abs' | 'rel',
  target: Target = 'model',
): { values: (number | null)[]; boot: SeedReduction['absCi'] } {
  const rows = x.reductions
    .filter((r) => r.setup === setup && r.arch === arch && r.pair === pair && r.target === target)
    .sort((a, b) => a.seed - b.seed);
  return { values: rows.map((r) => r[which]), boot: rows.length === 1 ? rows[0][`${which}Ci`] : null };
}

export function sae(x: ReproduceInputs, setup: SaeSetup, arch: SaeArch): SeedSae[] {
  return x.saes.filter((s) => s.setup === setup && s.arch === arch).sort((a, b) => a.seed - b.seed);
}

/** Per-seed differences a − b of an SAE figure, matched by seed (paired: same seed, same data order). */
export function pairedDiff(
  a: SeedSae[],
  b: SeedSae[],
  pick: (s: SeedSae) => number | null,
): (number | null)[] {
  return a.map((s) => {
    const o = b.find((t) => t.seed === s.seed);
    const va = pick(s);
    const vb = o ? pick(o) : null;
    return va !== null && vb !== null ? va - vb : null;
  });
}

export function result(
  id: string,
  claim: string,
  measure: string,
  tests: Test[],
  notRun: string | null,
): ClaimResult {
  const judged: ClaimTest[] = tests.map((t) => ({
    label: t.label,
    quantity: t.quantity,
    expect: expectationText(t.expect),
    ours: judge(t.values, t.expect, t.boot),
    published: t.published,
  }));
  return {
    id,
    claim,
    measure,
    tests: judged,
    verdict: notRun ? 'not run' : combine(judged.map((t) => t.ours.verdict)),
    notRun,
  };
}

const published = (setup: 'tblock' | 'ffblock' | 'fflayer', which: 'abs' | 'rel', pair: number) => {
  const table = PUBLISHED[setup] as { abs: readonly number[]; rel?: readonly number[] };
  return (which === 'rel' ? (table.rel ?? table.abs) : table.abs)[pair] ?? null;
};

const POS = 1 as const;
const NEG = -1 as const;
const missing = (what: string) =>
  `${what} not trained by this reproduction (preset, --setups or --no-variants)`;

/** Every claim, in the order of SPEC §4.5. */
export function evaluateClaims(x: ReproduceInputs): ClaimResult[] {
  const out: ClaimResult[] = [];

  // 1. Relative score lower than TopK at every pair (ffblock, tblock): relative % reduction > 0.
  {
    const tests: Test[] = [];
    for (const setup of ['ffblock', 'tblock'] as const)
      for (const pair of pairs(x, setup, 'staircase')) {
        const t = reductionTest(x, setup, 'staircase', pair, 'rel');
        tests.push({
          label: `${setup} pair ${pair}`,
          quantity: 'relative SCALAR % reduction vs TopK',
          expect: { kind: 'sign', sign: POS },
          ...t,
          published: published(setup, 'rel', pair),
        });
      }
    const run = has(x, 'ffblock', 'staircase') || has(x, 'tblock', 'staircase');
    out.push(
      result(
        'staircase-rel-every-pair',
        'Staircase relative SCALAR is lower than TopK at every pair',
        'relative % reduction (S_TopK − S_Staircase)/S_TopK per pair, ffblock and tblock; > 0 means Staircase is sparser',
        tests,
        run ? null : missing('Staircase at ffblock/tblock'),
      ),
    );
  }

  // 2. Absolute score higher than TopK at tblock pairs 1–3: absolute % reduction < 0.
  {
    const tests: Test[] = pairs(x, 'tblock', 'staircase')
      .filter((p) => p >= 1 && p <= 3)
      .map((pair) => ({
        label: `tblock pair ${pair}`,
        quantity: 'absolute SCALAR % reduction vs TopK',
        expect: { kind: 'sign', sign: NEG } as Expectation,
        ...reductionTest(x, 'tblock', 'staircase', pair, 'abs'),
        published: published('tblock', 'abs', pair),
      }));
    out.push(
      result(
        'staircase-tblock-abs-higher',
        'Staircase absolute SCALAR is higher than TopK at tblock pairs 1–3',
        'absolute % reduction per tblock pair 1–3; < 0 means Staircase needs more area (its dictionaries are larger)',
        tests,
        has(x, 'tblock', 'staircase') ? null : missing('Staircase at tblock'),
      ),
    );
  }

  // 3. tblock relative reduction rises with depth: each step pair p → p+1 increases it (paired per seed).
  {
    const ps = pairs(x, 'tblock', 'staircase');
    const tests: Test[] = [];
    for (const p of ps.slice(0, -1)) {
      const a = reductionTest(x, 'tblock', 'staircase', p, 'rel').values;
      const b = reductionTest(x, 'tblock', 'staircase', p + 1, 'rel').values;
      const pub = PUBLISHED.tblock.rel;
      tests.push({
        label: `pair ${p} → ${p + 1}`,
        quantity: 'rise of the relative % reduction (percentage points)',
        expect: { kind: 'sign', sign: POS },
        values: a.map((v, i) => (v !== null && b[i] !== null && b[i] !== undefined ? b[i]! - v : null)),
        published: pub[p + 1] !== undefined ? +(pub[p + 1] - pub[p]).toFixed(2) : null,
      });
    }
    out.push(
      result(
        'tblock-rel-rises',
        'tblock relative reduction rises with depth',
        'difference of the relative % reduction between consecutive tblock pairs, per seed; > 0 at every step',
        tests,
        has(x, 'tblock', 'staircase') ? null : missing('Staircase at tblock'),
      ),
    );
  }

  // 4. New-chunk share 25–45 % at positions ≥ 1 (Staircase, ffblock and tblock).
  {
    const tests: Test[] = [];
    for (const setup of ['ffblock', 'tblock'] as const) {
      const runs = sae(x, setup, 'staircase');
      const positions = Math.max(0, ...runs.map((r) => r.newChunkShare.length));
      for (let p = 1; p < positions; p++) {
        // A staircase's first position has only its own chunk: no share (ffblock has one per block).
        if (runs.every((r) => (r.newChunkShare[p] ?? null) === null)) continue;
        tests.push({
          label: `${setup} ${runs.find((r) => r.newChunkLabels?.[p])?.newChunkLabels?.[p] ?? `position ${p}`}`,
          quantity: '% of active latents from the new chunk',
          expect: { kind: 'range', lo: PUBLISHED.newChunkShare[0], hi: PUBLISHED.newChunkShare[1] },
          values: runs.map((r) => r.newChunkShare[p] ?? null),
          published: null,
        });
      }
    }
    const run = has(x, 'ffblock', 'staircase') || has(x, 'tblock', 'staircase');
    out.push(
      result(
        'new-chunk-share',
        'About 25–45 % of a Staircase position’s active latents are new (55–75 % reused)',
        'mean active latents of the position’s own chunk ÷ all its active latents, positions ≥ 1 (position 0 has only its own chunk); published as the range 25–45 %',
        tests,
        run ? null : missing('Staircase at ffblock/tblock'),
      ),
    );
  }

  // 5. Detach ≈ no reuse: a detached staircase takes a larger share from its new chunk than the shared one.
  {
    const d = sae(x, 'tblock', 'staircase-detach');
    const s = sae(x, 'tblock', 'staircase');
    const positions = Math.max(0, ...d.map((r) => r.newChunkShare.length));
    const tests: Test[] = [];
    for (let p = 1; p < positions; p++)
      tests.push({
        label: `tblock ${d.find((r) => r.newChunkLabels?.[p])?.newChunkLabels?.[p] ?? `position ${p}`}`,
        quantity: 'new-chunk share, detach − staircase (percentage points)',
        expect: { kind: 'sign', sign: POS },
        values: pairedDiff(d, s, (r) => r.newChunkShare[p] ?? null),
        published: null,
      });
    const run = has(x, 'tblock', 'staircase-detach') && has(x, 'tblock', 'staircase');
    out.push(
      result(
        'detach-no-reuse',
        'Detaching earlier chunks removes reuse (the SAE degenerates towards independent SAEs)',
        'paired per seed: new-chunk share of staircase-detach minus that of the shared staircase at each tblock position ≥ 1; > 0 means less reuse',
        tests,
        run ? null : missing('staircase-detach at tblock'),
      ),
    );
  }

  // 6. Shared biases and tied-all are worse than the staircase (higher compound ΔCE).
  {
    const s = sae(x, 'tblock', 'staircase');
    const tests: Test[] = [];
    for (const v of ['staircase-shared-bias', 'staircase-tied-all'] as const)
      if (has(x, 'tblock', v))
        tests.push({
          label: v,
          quantity: 'compound ΔCE, variant − staircase (nats)',
          expect: { kind: 'sign', sign: POS },
          values: pairedDiff(sae(x, 'tblock', v), s, (r) => r.compoundCe),
          published: null,
        });
    const run =
      has(x, 'tblock', 'staircase') &&
      (has(x, 'tblock', 'staircase-shared-bias') || has(x, 'tblock', 'staircase-tied-all'));
    out.push(
      result(
        'variants-worse',
        'Shared biases and tying all weights are worse than the staircase',
        'paired per seed: compound CE increase of the variant minus the staircase’s, tblock; > 0 means worse',
        tests,
        run ? null : missing('staircase-shared-bias / staircase-tied-all at tblock'),
      ),
    );
  }

  // 7. JSAE beats TopK only at fflayer pairs 1–2 (absolute): against the model as the paper's tables, and
  // against the full circuit, where the reconstruction the penalty costs does not count (docs/jsae.md).
  for (const target of ['model', 'circuit'] as const) {
    const tests: Test[] = pairs(x, 'fflayer', 'jsae', target).map((pair) => ({
      label: `fflayer pair ${pair}`,
      quantity: `absolute SCALAR % reduction vs TopK, KL against the full ${target}`,
      expect: { kind: 'sign', sign: pair === 1 || pair === 2 ? POS : NEG } as Expectation,
      ...reductionTest(x, 'fflayer', 'jsae', pair, 'abs', target),
      published: published('fflayer', 'abs', pair),
    }));
    const trained = has(x, 'fflayer', 'jsae');
    out.push(
      result(
        target === 'model' ? 'jsae-fflayer-1-2' : 'jsae-fflayer-1-2-circuit',
        target === 'model'
          ? 'JSAE beats TopK at fflayer pairs 1–2 only'
          : 'JSAE beats TopK at fflayer pairs 1–2 only, against the full circuit',
        target === 'model'
          ? 'absolute % reduction per fflayer pair, KL against the model as in the tables; > 0 at pairs 1–2 and < 0 at pairs 0 and 3 (Table 1)'
          : 'the same, with SCALAR’s KL measured against the full circuit (all SAEs spliced in), so the reconstruction error JSAE’s penalty costs does not count; the published figures are the model-target ones',
        tests,
        !trained
          ? missing('JSAE at fflayer')
          : tests.length === 0
            ? 'no SCALAR runs against the full circuit in this reproduction (made before they were part of it): run it again to add them'
            : null,
      ),
    );
  }

  // 8. Compound ΔCE orderings at tblock: staircase < topk < staircase-detach.
  {
    const tests: Test[] = [];
    const ce = (a: SaeArch) => sae(x, 'tblock', a);
    if (has(x, 'tblock', 'staircase') && has(x, 'tblock', 'topk'))
      tests.push({
        label: 'topk − staircase',
        quantity: 'compound ΔCE difference (nats)',
        expect: { kind: 'sign', sign: POS },
        values: pairedDiff(ce('topk'), ce('staircase'), (r) => r.compoundCe),
        published: +(PUBLISHED.compoundCe.topk - PUBLISHED.compoundCe.staircase).toFixed(4),
      });
    if (has(x, 'tblock', 'staircase-detach') && has(x, 'tblock', 'topk'))
      tests.push({
        label: 'staircase-detach − topk',
        quantity: 'compound ΔCE difference (nats)',
        expect: { kind: 'sign', sign: POS },
        values: pairedDiff(ce('staircase-detach'), ce('topk'), (r) => r.compoundCe),
        published: +(PUBLISHED.compoundCe['staircase-detach'] - PUBLISHED.compoundCe.topk).toFixed(4),
      });
    out.push(
      result(
        'compound-ce-order',
        'Compound ΔCE at tblock: Staircase < TopK < Staircase-detach (×8; the ×40 rows are not trained here)',
        'paired per seed differences of the compound CE increase; > 0 means the ordering holds at that step',
        tests,
        tests.length ? null : missing('TopK and Staircase at tblock'),
      ),
    );
  }
  return out;
}

/**
 * The new-chunk share (%) of each SAE of a staircase run, from its mean active latents per chunk. A row has one
 * entry per chunk the SAE uses, so its own (newest) chunk is the last: position p = row length − 1 (a tblock run is
 * one staircase over every position; an ffblock run is one two-position staircase per block). Position 0 has only
 * its own chunk: null.
 */
export function newChunkShares(l0PerChunk: (number[] | null | undefined)[]): (number | null)[] {
  return l0PerChunk.map((row) => {
    if (!row || row.length < 2) return null;
    const total = row.reduce((a, b) => a + b, 0);
    return total > 0 ? (100 * row[row.length - 1]) / total : null;
  });
}
