/**
 * SCALAR on a hand-built pair (the acceptance test, SPEC §4.2–§4.4). The LM's block is exactly the
 * identity (zero output projections) and both SAEs are permutation matrices, so downstream latent σ(i) depends
 * only on upstream latent i. Every expected value is worked out in float64 plain JS from that structure
 * (scalar.helpers.ts: HandPair) — which latents are active at each integration point α_s, the edge scores for
 * both scalings, the kept sets, R, Z₁ = TopK(R), x̂₁, logits and KL — and the plain and fast algorithms are
 * checked against it for the tblock and ffblock segments.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import { SubcircuitEvaluator } from '../../src-main/engine/scalar/ablation.ts';
import { attributionBatchFast, finishAttribution } from '../../src-main/engine/scalar/attribution.ts';
import { perTokenKl, type CleanPass } from '../../src-main/engine/scalar/pair.ts';
import { PairPool } from '../../src-main/engine/scalar/pairPool.ts';
import { accumulateAttributionPlain, subcircuitLogitsPlain } from '../../src-main/engine/scalar/plain.ts';
import { rankByScore } from '../../src-main/engine/scalar/ranking.ts';
import { expectClose } from './lm.helpers.ts';
import { HandPair, ID, identityPair, kl64, type IdentityPair, type IdentitySpec } from './scalar.helpers.ts';

beforeAll(async () => {
  await initBackend();
});

const F = ID.D;
const E = F * F;
const PI0 = [3, 7, 1, 0, 5, 2, 6, 4];
const PI1 = [6, 0, 4, 2, 7, 1, 3, 5];
const zeros = new Array<number>(F).fill(0);
const CONFIGS: Record<string, Omit<IdentitySpec, 'setup' | 'seed'>> = {
  // Nothing is active at α = 0 (all pre-activations are exactly 0 there, and the ReLU keeps none); k₁ = 2 < k₀
  // so TopK drops the smallest of each token's three active latents at every α > 0.
  'zero biases': { pi0: PI0, pi1: PI1, b0: zeros, b1: zeros, k0: 3, k1: 2 },
  // Only b₁[5] > 0: at α = 0 latent 5 alone is active whatever z₀ is, so with the reference scaling its edge
  // scores even on tokens where the upstream latent is off. b₁ < 0 elsewhere gives negative R (the `relu`
  // option then matters) and tokens with fewer than k₁ = 3 positive pre-activations.
  biased: {
    pi0: PI0,
    pi1: PI1,
    b0: [0, 3, -4, 0, 2, 0, -6, 1].map((v) => v / 64),
    b1: [-40, -20, -9, -64, -70, 14, -3, -50].map((v) => v / 64),
    k0: 3,
    k1: 3,
  },
};
/**
 * The scaling whose scores rank the ablation tests' edges: chosen so the hand scores of the permutation edges
 * are distinct (zero biases + reference ties two latents that are in the top 2 on the same tokens).
 */
const RANK_SCALING = { 'zero biases': 'textbook', biased: 'reference' } as const;
const VARIANTS = [
  { setup: 'tblock', norm2: 'layernorm' },
  { setup: 'ffblock', norm2: 'layernorm' },
  { setup: 'ffblock', norm2: 'dyt' },
] as const;

interface Built extends IdentityPair {
  clean: CleanPass;
}
const built: Built[] = [];
function build(
  setup: 'tblock' | 'ffblock',
  norm2: 'layernorm' | 'dyt',
  config: Omit<IdentitySpec, 'setup' | 'seed'>,
): Built {
  const p = identityPair({ ...config, setup, seed: 3 }, norm2);
  const tokens = tf.tensor2d(p.tokens, [ID.B, ID.T], 'int32');
  const b = { ...p, clean: p.pm.clean(tokens) };
  built.push(b);
  return b;
}
afterAll(() => {
  for (const b of built) b.lm.dispose();
});

const isPermEdge = (hand: HandPair, e: number) => hand.sigma[Math.floor(e / F)] === e % F;

function plainScores(
  b: Built,
  steps: number,
  scaling: 'reference' | 'textbook',
  singleStepAlpha?: 0 | 1,
): Float64Array {
  const sumSq = new Float64Array(E);
  accumulateAttributionPlain(b.pm, b.clean, { steps, scaling, singleStepAlpha }, sumSq);
  return sumSq.map(Math.sqrt);
}
async function fastScores(
  b: Built,
  steps: number,
  scaling: 'reference' | 'textbook',
  singleStepAlpha?: 0 | 1,
): Promise<Float32Array> {
  return await finishAttribution(
    b.pm,
    await attributionBatchFast(b.pm, b.clean, { steps, scaling, singleStepAlpha }),
    scaling,
  );
}

describe('hand-built identity pair: construction', () => {
  it.each(VARIANTS)(
    '$setup ($norm2): the segment is exactly x ↦ x and the clean logits are LN_f(x)·wteᵀ',
    (v) => {
      const b = build(v.setup, v.norm2, CONFIGS['zero biases']);
      const x = b.clean.up;
      // Bit-identical: the block adds exact zeros.
      expect(Array.from(b.pm.segment(x).dataSync())).toEqual(Array.from(x.dataSync()));
      expectClose(x.dataSync(), b.hand.x, { atol: 0 }, 'upstream activation = wte[token] + wpe[position]');
      expectClose(b.clean.logits.dataSync(), b.hand.cleanLogits(), { atolRel: 2e-6 }, 'clean logits');
      // SAE₀ codes as the hand computes them (every value exact: sums of multiples of 1/64).
      const codes = b.pm.upCodes(b.clean);
      const idx = codes.idx.dataSync();
      const val = codes.val.dataSync();
      const z = new Float64Array(b.hand.N * F);
      for (let q = 0; q < idx.length; q++) z[Math.floor(q / 3) * F + idx[q]] += val[q];
      expect(Array.from(z)).toEqual(Array.from(b.hand.z0));
    },
  );
});

describe('hand-built identity pair: edge scores (SPEC §4.2)', () => {
  for (const [name, config] of Object.entries(CONFIGS)) {
    for (const v of VARIANTS) {
      it(`${v.setup} (${v.norm2}), ${name}: A is zero off the permutation, A[i, σ(i)] by hand`, async () => {
        const b = build(v.setup, v.norm2, config);
        // S = 4 (reference default), 5 (paper), and the degenerate S = 1 (its one point is α = 1).
        for (const steps of [1, 2, 4, 5]) {
          for (const scaling of ['reference', 'textbook'] as const) {
            const expected = b.hand.attribution(steps, scaling);
            for (const [algo, A] of [
              ['plain', plainScores(b, steps, scaling)],
              ['fast', await fastScores(b, steps, scaling)],
            ] as const) {
              const what = `${algo}, S = ${steps}, ${scaling}`;
              const offPerm = Array.from(A).filter((_, e) => !isPermEdge(b.hand, e));
              expect(offPerm, `${what}: off-permutation scores`).toEqual(new Array(E - F).fill(0));
              // float32 engine vs float64 hand: a few ulps of the sums of ≤ 8 tokens.
              expectClose(A, expected, { rtol: 2e-6, atolRel: 1e-7 }, what);
            }
          }
        }
        // The decisions (ReLU at 0, TopK order) are far from flipping under float32 rounding.
        expect(b.hand.margin()).toBeGreaterThan(1e-3);
      });
    }
  }

  it('closed form, zero biases, S = 4: α = 0 activates nothing, so the count is S − 1 = 3 of 4 points', async () => {
    const b = build('ffblock', 'layernorm', CONFIGS['zero biases']);
    const { z0, N, sigma } = b.hand;
    // At α > 0 the downstream pre-activations are α·z₀ (all ≥ 0, b₁ = 0): the active latents are σ of the top
    // k₁ = 2 upstream codes of the token (there are k₀ = 3 positive ones). Reference: c = ‖z₀‖/4, so
    //   A[i, σ(i)] = (3/4)·sqrt(Σ_{tokens where i is in the top 2} ‖z₀‖²);  textbook: (3/4)·sqrt(Σ z₀ᵢ²).
    const ref = new Float64Array(F);
    const text = new Float64Array(F);
    for (let n = 0; n < N; n++) {
      const row = Array.from(z0.subarray(n * F, (n + 1) * F));
      const top2 = Array.from(row.keys())
        .filter((i) => row[i] > 0)
        .sort((a, c) => row[c] - row[a] || a - c)
        .slice(0, 2);
      const norm2 = row.reduce((a, c) => a + c * c, 0);
      for (const i of top2) {
        ref[i] += norm2;
        text[i] += row[i] ** 2;
      }
    }
    for (const [scaling, sums] of [
      ['reference', ref],
      ['textbook', text],
    ] as const) {
      const expected = Array.from(sums, (s) => 0.75 * Math.sqrt(s));
      for (const A of [plainScores(b, 4, scaling), await fastScores(b, 4, scaling)])
        expectClose(
          Array.from({ length: F }, (_, i) => A[i * F + sigma[i]]),
          expected,
          { rtol: 2e-6 },
          scaling,
        );
    }
  });

  it('S = 1: α = 1 (default) is the gradient at z₀, α = 0 the one at the baseline (reference code)', async () => {
    for (const [name, config] of Object.entries(CONFIGS)) {
      const b = build('ffblock', 'layernorm', config);
      const { z0, N, sigma } = b.hand;
      for (const single of [0, 1] as const)
        for (const scaling of ['reference', 'textbook'] as const) {
          const expected = b.hand.attribution(1, scaling, single);
          const what = `${name}, α = ${single}, ${scaling}`;
          expectClose(plainScores(b, 1, scaling, single), expected, { rtol: 2e-6, atolRel: 1e-7 }, what);
          expectClose(await fastScores(b, 1, scaling, single), expected, { rtol: 2e-6, atolRel: 1e-7 }, what);
        }
      // Worked out: at α = 0 the downstream pre-activations are b₁ alone. Zero biases: nothing is active, every
      // score is 0. Biased: only latent 5 (b₁ = 14/64 > 0) is, on every token, so with c = ‖z₀‖/1 the one
      // non-zero reference score is A[σ⁻¹(5), 5] = sqrt(Σ_n ‖z₀,n‖²) and textbook's is sqrt(Σ_n z₀[n, σ⁻¹(5)]²).
      const i5 = sigma.indexOf(5);
      let norms = 0;
      let own = 0;
      for (let n = 0; n < N; n++) {
        for (let i = 0; i < F; i++) norms += z0[n * F + i] ** 2;
        own += z0[n * F + i5] ** 2;
      }
      for (const scaling of ['reference', 'textbook'] as const) {
        const A = await fastScores(b, 1, scaling, 0);
        const hand = new Array<number>(E).fill(0);
        if (name === 'biased') hand[i5 * F + 5] = Math.sqrt(scaling === 'reference' ? norms : own);
        expectClose(A, hand, { rtol: 2e-6 }, `${name}, α = 0, ${scaling}, closed form`);
      }
      // And α = 1 differs from α = 0 here: the codes themselves activate other latents.
      const at1 = await fastScores(b, 1, 'reference', 1);
      const at0 = await fastScores(b, 1, 'reference', 0);
      expect(Array.from(at1)).not.toEqual(Array.from(at0));
    }
  });

  it('biased, reference scaling: an edge scores on tokens where its upstream latent is off (active at α = 0)', async () => {
    const b = build('tblock', 'layernorm', CONFIGS.biased);
    const { z0, N, sigma } = b.hand;
    // j = 5 has the only positive b₁ (14/64): at α = 0 it is active for every token. Its edge (σ⁻¹(5), 5)
    // therefore collects c = ‖z₀‖/S from tokens with z₀[σ⁻¹(5)] = 0 under `reference` but not `textbook`.
    const i = sigma.indexOf(5);
    const off = Array.from({ length: N }, (_, n) => n).filter((n) => z0[n * F + i] === 0);
    expect(off.length).toBeGreaterThan(0);
    const ref = (await fastScores(b, 4, 'reference'))[i * F + 5];
    const text = (await fastScores(b, 4, 'textbook'))[i * F + 5];
    expect(ref).toBeGreaterThan(0);
    // Textbook: c = z₀ᵢ/S = 0 on those tokens, and positive only from tokens where i is on.
    const onTokens = N - off.length;
    expect(text > 0).toBe(onTokens > 0);
    // The per-token reference contribution from an "off" token is (‖z₀‖/4 · count)² with count ≥ 1 (α = 0).
    let lower = 0;
    for (const n of off) lower += (Math.hypot(...z0.subarray(n * F, (n + 1) * F)) / 4) ** 2;
    expect(ref ** 2).toBeGreaterThanOrEqual(lower * (1 - 1e-6));
  });
});

describe('hand-built identity pair: progressive ablation and KL (SPEC §4.3–§4.4)', () => {
  const budgets = [1, 2, 3, 4, 5, 6, 7, 8, 9, 20, 40, E - 1, E];
  for (const [name, config] of Object.entries(CONFIGS)) {
    for (const setup of ['tblock', 'ffblock'] as const) {
      for (const relu of [false, true]) {
        it(`${setup}, ${name}, relu ${relu}: the IG ranking keeps the permutation edges first; logits and KL by hand`, async () => {
          const b = build(setup, 'layernorm', config);
          const scaling = RANK_SCALING[name as keyof typeof RANK_SCALING];
          const A = await fastScores(b, 4, scaling);
          const ranking = rankByScore(A, 7);
          // By hand: the positive scores are exactly the permutation edges with a positive hand score,
          // ranked by that score (descending); so budget N ≤ P keeps exactly the first N of them.
          const handA = b.hand.attribution(4, scaling);
          const perm = Array.from({ length: F }, (_, i) => i * F + b.hand.sigma[i]).filter(
            (e) => handA[e] > 0,
          );
          perm.sort((a, c) => handA[c] - handA[a] || a - c);
          for (let r = 1; r < perm.length; r++)
            expect(handA[perm[r - 1]] - handA[perm[r]], 'hand scores distinct').toBeGreaterThan(1e-3);
          expect(Array.from(ranking.slice(0, perm.length))).toEqual(perm);
          expect(perm.length).toBeGreaterThanOrEqual(6);

          const handClean = b.hand.cleanLogits();
          const pool = await PairPool.start(b.pm, false);
          try {
            const ev = await SubcircuitEvaluator.create(b.pm, b.clean, pool);
            for (const n of budgets) {
              const expected = b.hand.subcircuitLogits(ranking, n, relu);
              const expectedKl = kl64(handClean, expected, ID.V);
              const plain = subcircuitLogitsPlain(b.pm, b.clean, ranking, n, { relu });
              const fast = await ev.logits(ranking, n, { relu });
              for (const [algo, logits] of [
                ['plain', plain],
                ['fast', fast],
              ] as const) {
                const what = `${algo}, N = ${n}`;
                expectClose(logits.dataSync(), expected, { atolRel: 2e-6 }, `${what}: logits`);
                expectClose(
                  await perTokenKl(b.clean.logits, logits),
                  expectedKl,
                  { atol: 1e-6, rtol: 1e-4 },
                  `${what}: KL`,
                );
              }
              tf.dispose([plain, fast]);
            }
            // Every edge kept: the subcircuit is the full circuit when the ReLU is applied (SAE₁'s own encoder);
            // without it, it differs exactly where a token has fewer than k₁ positive pre-activations.
            const all = b.hand.subcircuitLogits(ranking, E, relu);
            const full = b.hand.fullCircuitLogits();
            const fullKl = kl64(handClean, full, ID.V);
            const allKl = kl64(handClean, all, ID.V);
            if (relu) expect(Array.from(allKl)).toEqual(Array.from(fullKl));
            const engineFull = await b.pm.fullCircuitLogits(b.clean);
            expectClose(engineFull.dataSync(), full, { atolRel: 2e-6 }, 'full circuit logits');
            expectClose(
              await perTokenKl(b.clean.logits, engineFull),
              fullKl,
              { atol: 1e-6, rtol: 1e-4 },
              'full KL',
            );
            engineFull.dispose();
          } finally {
            await pool.close();
          }
          expect(b.hand.margin()).toBeGreaterThan(1e-3);
        });
      }
    }
  }

  it('biased, no ReLU: with every edge kept the curve ends above KL(full model ‖ full circuit) on some token', async () => {
    // Pins down SPEC §4.3's "no ReLU — as in the reference": a token with fewer than k₁ = 3 positive
    // pre-activations takes a negative one into Z₁, so the subcircuit at N = F₀·F₁ is not the full circuit.
    const b = build('ffblock', 'layernorm', CONFIGS.biased);
    const pre = b.hand.fullPre();
    const short = Array.from({ length: b.hand.N }, (_, n) => n).filter(
      (n) => pre.subarray(n * F, (n + 1) * F).filter((v) => v > 0).length < 3,
    );
    expect(short.length).toBeGreaterThan(0);
    const ranking = Int32Array.from({ length: E }, (_, e) => e);
    const noRelu = subcircuitLogitsPlain(b.pm, b.clean, ranking, E, { relu: false }).dataSync();
    const full = (await b.pm.fullCircuitLogits(b.clean)).dataSync();
    const rowDiffers = (n: number) =>
      Array.from({ length: ID.V }, (_, v) => noRelu[n * ID.V + v] !== full[n * ID.V + v]).some(Boolean);
    for (const n of short) expect(rowDiffers(n), `token ${n}`).toBe(true);
  });

  for (const setup of ['tblock', 'ffblock'] as const) {
    it(`${setup}, zero biases: nothing relevant kept → R = 0 → x̂₁ = b_dec₁ = 0 → logits exactly 0`, async () => {
      const b = build(setup, 'layernorm', CONFIGS['zero biases']);
      // Off-permutation edges first (in index order), then the permutation edges.
      const ranking = Int32Array.from([
        ...Array.from({ length: E }, (_, e) => e).filter((e) => !isPermEdge(b.hand, e)),
        ...Array.from({ length: F }, (_, i) => i * F + b.hand.sigma[i]),
      ]);
      const pool = await PairPool.start(b.pm, false);
      try {
        const ev = await SubcircuitEvaluator.create(b.pm, b.clean, pool);
        for (const n of [1, 10, E - F]) {
          // LN_f(0) = 0 and the head has no bias: Q is uniform, KL = Σ P log((P+1e-8)/(1/V+1e-8)).
          const handClean = b.hand.cleanLogits();
          const expectedKl = kl64(handClean, new Float64Array(handClean.length), ID.V);
          for (const logits of [
            subcircuitLogitsPlain(b.pm, b.clean, ranking, n, { relu: false }),
            await ev.logits(ranking, n, { relu: false }),
          ]) {
            expect(Array.from(logits.dataSync()).every((v) => v === 0)).toBe(true);
            expectClose(
              await perTokenKl(b.clean.logits, logits),
              expectedKl,
              { atol: 1e-6, rtol: 1e-5 },
              `N = ${n}`,
            );
          }
        }
        // One more edge brings in the first permutation edge (i, σ(i)): only R[:, σ(i)] becomes non-zero.
        const n = E - F + 1;
        expectClose(
          (await ev.logits(ranking, n, { relu: false })).dataSync(),
          b.hand.subcircuitLogits(ranking, n, false),
          { atolRel: 2e-6 },
          `N = ${n}`,
        );
      } finally {
        await pool.close();
      }
    });
  }

  for (const relu of [false, true]) {
    it(`biased, relu ${relu}: a kept set without the relevant upstream latent gives R = pre of the ablated input = b₁ⱼ, not 0`, async () => {
      const b = build('ffblock', 'layernorm', CONFIGS.biased);
      const ranking = Int32Array.from([
        ...Array.from({ length: E }, (_, e) => e).filter((e) => !isPermEdge(b.hand, e)),
        ...Array.from({ length: F }, (_, i) => i * F + b.hand.sigma[i]),
      ]);
      // SPEC §4.3: only latents with no kept edge get R = 0; a latent j whose kept set misses σ⁻¹(j) gets
      // pre₁ⱼ of the ablated input, here b₁ⱼ. With b₁[5] = 14/64 > 0, latent 5 enters Z₁ as soon as any edge
      // into it is kept, so x̂₁ ≠ b_dec₁ = 0 on every token.
      const pool = await PairPool.start(b.pm, false);
      try {
        const ev = await SubcircuitEvaluator.create(b.pm, b.clean, pool);
        for (const n of [1, 6, 20, E - F]) {
          const sets = Array.from({ length: F }, () => 0);
          for (let r = 0; r < n; r++) sets[ranking[r] % F]++;
          const expected = b.hand.subcircuitLogits(ranking, n, relu);
          const into5 = sets[5] > 0;
          expect(expected.some((v) => v !== 0)).toBe(into5);
          for (const logits of [
            subcircuitLogitsPlain(b.pm, b.clean, ranking, n, { relu }),
            await ev.logits(ranking, n, { relu }),
          ])
            expectClose(logits.dataSync(), expected, { atolRel: 2e-6, atol: 1e-7 }, `N = ${n}`);
        }
      } finally {
        await pool.close();
      }
    });
  }
});
