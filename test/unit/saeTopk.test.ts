/**
 * TopK SAE engine (SPEC §3.1) in both kernel formulations (SIMD kernels and composite tfjs) on both backends
 * that carry the SIMD kernels (wasm: zero-copy, cpu: staged copies). Expected values come from plain JS:
 * a stable top-k with an explicit comparator, a float64 decode, a float64 TopK SAE with hand-derived gradients,
 * and float64 central finite differences of the loss (top-k recomputed at every perturbed point).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import { kernelMode, setKernelMode, type KernelMode } from '../../src-main/engine/kernels/ops.ts';
import {
  decode,
  densify,
  encode,
  topk,
  topkSaeStep,
  type SaeWeights,
} from '../../src-main/engine/sae/topk.ts';
import { centralDiff, expectClose, maxRelDiff, scoped, TestRng, values } from './lm.helpers.ts';
import {
  decode64,
  preActivations64,
  randomSae,
  selectionMargin,
  stableTopk,
  toSae64,
  topkSae64,
  type Sae64,
} from './sae.helpers.ts';

const MODES: readonly KernelMode[] = ['simd', 'tfjs'];

function inMode<T>(mode: KernelMode, fn: () => T): T {
  setKernelMode(mode);
  try {
    expect(kernelMode()).toBe(mode);
    return scoped(fn);
  } finally {
    setKernelMode(null);
  }
}

const weights = (p: ReturnType<typeof randomSae>, D: number, F: number): SaeWeights => ({
  wEnc: tf.tensor2d(p.wEnc, [D, F]),
  bEnc: tf.tensor1d(p.bEnc),
  wDec: tf.tensor2d(p.wDec, [F, D]),
  bDec: tf.tensor1d(p.bDec),
});

/** Checks codes [N, k] against the stable top-k of each row of `pre` (already ReLU'd), exactly. */
function expectStableTopk(
  idx: ArrayLike<number>,
  val: ArrayLike<number>,
  pre: number[][],
  k: number,
  what: string,
): void {
  const F = pre[0].length;
  pre.forEach((row, n) => {
    const gotIdx = Array.from(idx).slice(n * k, (n + 1) * k);
    const gotVal = Array.from(val).slice(n * k, (n + 1) * k);
    // Structure first (clearer failures): k distinct in-range indices, values non-increasing, val = pre[idx].
    expect(new Set(gotIdx).size, `${what} row ${n}: distinct indices ${gotIdx}`).toBe(k);
    for (const i of gotIdx) expect(i >= 0 && i < F, `${what} row ${n}: index ${i} in range`).toBe(true);
    for (let j = 1; j < k; j++)
      expect(gotVal[j] <= gotVal[j - 1], `${what} row ${n}: sorted ${gotVal}`).toBe(true);
    gotIdx.forEach((i, j) => expect(gotVal[j], `${what} row ${n}: val = pre[idx]`).toBe(row[i]));
    const want = stableTopk(row, k);
    expect(gotIdx, `${what} row ${n} indices (row ${row})`).toEqual(want.idx);
    expect(gotVal, `${what} row ${n} values`).toEqual(want.val);
  });
}

/**
 * Adversarial and random rows of width F. topk() selects from its input as given (no ReLU: SCALAR takes the
 * TopK of raw pre-activations), so rows with negative values are expected as a stable sort would order them.
 */
function selectionCases(F: number): { name: string; rows: number[][] }[] {
  const rng = new TestRng(F);
  const relu = (a: ArrayLike<number>) => Array.from(a, (v) => Math.max(v, 0));
  // Values from {−1, 0, 1, 2} after the ReLU: mostly exact ties (0, 1, 2).
  const tied = () => relu(Array.from(rng.ints(F, 4), (v) => v - 1));
  const fewPositive = () => {
    const row: number[] = new Array<number>(F).fill(0);
    row[F - 1] = 0.5; // the last column positive: the zero fill must not collide with it
    if (F > 2) row[Math.floor(F / 2)] = 1.5;
    return row;
  };
  return [
    { name: 'random', rows: Array.from({ length: 6 }, () => relu(rng.normals(F))) },
    { name: 'raw, with negatives', rows: Array.from({ length: 4 }, () => Array.from(rng.normals(F))) },
    {
      name: 'raw ties among negatives',
      rows: Array.from({ length: 4 }, () => Array.from(rng.ints(F, 3), (v) => -v - 1)),
    },
    { name: 'many exact ties', rows: Array.from({ length: 6 }, tied) },
    { name: 'all equal positive', rows: [new Array<number>(F).fill(0.25), new Array<number>(F).fill(3)] },
    { name: 'fewer than k positive', rows: [fewPositive(), fewPositive().reverse()] },
    { name: 'all zero', rows: [new Array<number>(F).fill(0), new Array<number>(F).fill(0)] },
  ];
}

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`TopK SAE on the ${backend} backend`, () => {
    beforeAll(async () => {
      await initBackend(backend);
    });

    describe('topk selection: exactly k per row, descending, lowest index first among equals', () => {
      // F = 3 (below one SIMD block), 13 and 37 (not multiples of 4), 16 (a multiple); k = 1, a few, F.
      for (const F of [3, 13, 16, 37]) {
        for (const k of [...new Set([1, 2, 5, F])].filter((kk) => kk <= F)) {
          for (const mode of MODES) {
            it(`F=${F} k=${k} ${mode}`, () => {
              for (const c of selectionCases(F)) {
                const { idx, val } = inMode(mode, () => {
                  const codes = topk(tf.tensor2d(c.rows), k);
                  expect(codes.idx.dtype).toBe('int32');
                  expect(codes.idx.shape).toEqual([c.rows.length, k]);
                  return { idx: codes.idx.dataSync(), val: codes.val.dataSync() };
                });
                expectStableTopk(idx, val, c.rows, k, `${c.name} F=${F} k=${k} ${mode}`);
              }
            });
          }
        }
      }
    });

    describe('encode: fused + b_enc, ReLU and top-k', () => {
      const D = 8;
      const F = 21;
      /** Raw float32 pre-activations computed with plain tf ops (not encode/encodePre), ReLU'd in JS. */
      const preOf = (x: tf.Tensor2D, w: SaeWeights, N: number) => {
        const raw = tf.tidy(() => tf.add(tf.matMul(tf.sub(x, w.bDec), w.wEnc), w.bEnc).dataSync());
        return Array.from({ length: N }, (_, n) =>
          Array.from(raw.subarray(n * F, (n + 1) * F), (v) => Math.max(v, 0)),
        );
      };

      for (const mode of MODES) {
        it(`random and adversarial encoders (${mode})`, () => {
          const rng = new TestRng(11);
          for (const k of [1, 4, F]) {
            // Random encoder.
            const p = randomSae(rng, D, F, 0.5);
            const xs = rng.normals(9 * D);
            // Adversarial: columns 0..6 of W_enc repeated three times (exact ties across latents), a very
            // negative b_enc on the last 12 latents (fewer than k positive), and zero rows with b_dec = 0.
            const q = randomSae(rng, D, F, 0);
            for (let d = 0; d < D; d++)
              for (let f = 7; f < F; f++) q.wEnc[d * F + f] = q.wEnc[d * F + (f % 7)];
            for (let f = 9; f < F; f++) q.bEnc[f] = -100;
            q.bDec.fill(0);
            const xq = rng.normals(6 * D);
            xq.fill(0, 0, 2 * D);
            for (const [params, x, N] of [
              [p, xs, 9],
              [q, xq, 6],
            ] as const) {
              const { idx, val, pre } = inMode(mode, () => {
                const w = weights(params, D, F);
                const xt = tf.tensor2d(x, [N, D]);
                const codes = encode(xt, w, k);
                return { idx: codes.idx.dataSync(), val: codes.val.dataSync(), pre: preOf(xt, w, N) };
              });
              expectStableTopk(idx, val, pre, k, `encode k=${k} ${mode}`);
            }
          }
        });
      }
    });

    describe('decode: sparse gather-sum = dense matmul = float64 reference', () => {
      it('on encoder codes and on hand-made codes with zeros, k = 1 … F', () => {
        const rng = new TestRng(21);
        const D = 12;
        const F = 19;
        const N = 7;
        const p = randomSae(rng, D, F, 0.3);
        const x = rng.normals(N * D);
        for (const k of [1, 3, F]) {
          const codes = inMode('tfjs', () => {
            const c = encode(tf.tensor2d(x, [N, D]), weights(p, D, F), k);
            return { idx: c.idx.dataSync(), val: c.val.dataSync() };
          });
          // Hand-made codes: arbitrary distinct indices, some values zero (a zero code decodes to nothing).
          const idx2 = Int32Array.from({ length: N * k }, (_, i) => (i * 7 + Math.floor(i / k)) % F);
          for (let n = 0; n < N; n++) {
            const used = new Set<number>();
            for (let j = 0; j < k; j++) {
              let c = idx2[n * k + j];
              while (used.has(c)) c = (c + 1) % F;
              used.add(c);
              idx2[n * k + j] = c;
            }
          }
          const val2 = Float32Array.from({ length: N * k }, (_, i) => (i % 3 === 0 ? 0 : rng.normal()));
          for (const [idx, val] of [
            [codes.idx, codes.val],
            [idx2, val2],
          ] as const) {
            const want = decode64(idx, val, k, p.wDec, D, p.bDec);
            const run = (mode: KernelMode) =>
              inMode(mode, () =>
                values(
                  decode(
                    { idx: tf.tensor2d(idx, [N, k], 'int32'), val: tf.tensor2d(val, [N, k]) },
                    weights(p, D, F),
                  ),
                ),
              );
            const sparse = run('simd');
            const dense = run('tfjs');
            expect(maxRelDiff(sparse, want), `sparse vs float64, k=${k}`).toBeLessThan(1e-6);
            expect(maxRelDiff(dense, want), `dense vs float64, k=${k}`).toBeLessThan(1e-6);
            expect(maxRelDiff(sparse, dense), `sparse vs dense, k=${k}`).toBeLessThan(1e-6);
          }
        }
      });

      it('densify scatters each (index, value) pair into its column', () => {
        const dense = scoped(() =>
          values(
            densify(
              {
                idx: tf.tensor2d(
                  [
                    [4, 0, 2],
                    [1, 3, 0],
                  ],
                  [2, 3],
                  'int32',
                ),
                val: tf.tensor2d([
                  [5, 2.5, 0],
                  [-1, 0.5, 0.25],
                ]),
              },
              5,
            ),
          ),
        );
        expect(Array.from(dense)).toEqual([2.5, 0, 0, 0, 5, 0.25, -1, 0, 0.5, 0]);
      });
    });

    describe('topkSaeStep: loss and gradients', () => {
      /** Tiny case D=4, F=6, k=2, N=3 whose top-k decisions sit far from flipping (checked, not assumed). */
      const D = 4;
      const F = 6;
      const k = 2;
      const N = 3;
      const rng = new TestRng(7);
      const p = randomSae(rng, D, F, 0.2);
      const x = rng.normals(N * D, 1.5);
      const p64 = toSae64(p);

      it('the tiny case is well conditioned for finite differences', () => {
        // A perturbation h = 1e-5 moves a pre-activation by ≤ h·(1 + Σ|x|) ≈ 1e-4: the decisions must be farther.
        expect(selectionMargin(preActivations64(x, D, F, p64), F, k)).toBeGreaterThan(1e-3);
      });

      /** Float64 central differences of the loss w.r.t. every parameter, rows below detachBelow zeroed. */
      function fdGrads(detachBelow: number): Sae64 {
        const q = toSae64(p);
        const f = () => topkSae64(x, D, F, k, q).loss;
        const g = {
          wEnc: centralDiff(f, q.wEnc),
          bEnc: centralDiff(f, q.bEnc),
          wDec: centralDiff(f, q.wDec),
          bDec: centralDiff(f, q.bDec),
        };
        // detach: W_enc columns and W_dec rows of latents < detachBelow get no gradient; biases keep theirs.
        for (let i = 0; i < detachBelow; i++) {
          for (let d = 0; d < D; d++) {
            g.wEnc[d * F + i] = 0;
            g.wDec[i * D + d] = 0;
          }
        }
        return g;
      }

      for (const detachBelow of [0, 2, 5]) {
        it(`the float64 reference's analytic gradients match finite differences (detachBelow ${detachBelow})`, () => {
          const fd = fdGrads(detachBelow);
          const ref = topkSae64(x, D, F, k, p64, detachBelow).grads;
          for (const key of ['wEnc', 'bEnc', 'wDec', 'bDec'] as const)
            expectClose(ref[key], fd[key], { atolRel: 1e-7 }, `reference ${key}`);
        });

        for (const mode of MODES) {
          it(`equals finite differences of the float64 loss (${mode}, detachBelow ${detachBelow})`, () => {
            const fd = fdGrads(detachBelow);
            const ref = topkSae64(x, D, F, k, p64, detachBelow);
            const r = inMode(mode, () => {
              const s = topkSaeStep(tf.tensor2d(x, [N, D]), weights(p, D, F), k, detachBelow);
              return {
                loss: s.loss.dataSync()[0],
                err: values(s.err),
                idx: Array.from(s.codes.idx.dataSync()),
                g: {
                  wEnc: values(s.grads.wEnc),
                  bEnc: values(s.grads.bEnc),
                  wDec: values(s.grads.wDec),
                  bDec: values(s.grads.bDec),
                },
              };
            });
            expect(r.idx).toEqual(ref.idx.flat());
            expect(Math.abs(r.loss - ref.loss) / ref.loss).toBeLessThan(1e-6);
            // err [N] = per-token Σ_d (x − x̂)², whose mean is the loss.
            const err64 = Array.from({ length: N }, (_, n) => {
              let s = 0;
              for (let d = 0; d < D; d++) s += (x[n * D + d] - ref.xhat[n * D + d]) ** 2;
              return s;
            });
            expectClose(r.err, err64, { rtol: 1e-5 }, 'err');
            for (const key of ['wEnc', 'bEnc', 'wDec', 'bDec'] as const)
              expectClose(r.g[key], fd[key], { atolRel: 1e-5, rtol: 1e-4 }, `${mode} d${key}`);
            // Detached rows are exactly zero, not merely small.
            for (let i = 0; i < detachBelow; i++) {
              for (let d = 0; d < D; d++) {
                expect(r.g.wEnc[d * F + i]).toBe(0);
                expect(r.g.wDec[i * D + d]).toBe(0);
              }
            }
          });
        }
      }

      it('SIMD gradients equal tfjs autodiff and the float64 reference on a larger random case', () => {
        const D2 = 8;
        const F2 = 37;
        const k2 = 5;
        const N2 = 24;
        const r2 = new TestRng(99);
        const q = randomSae(r2, D2, F2, 0.3);
        const x2 = r2.normals(N2 * D2);
        expect(selectionMargin(preActivations64(x2, D2, F2, toSae64(q)), F2, k2)).toBeGreaterThan(1e-5);
        for (const detachBelow of [0, 16]) {
          const run = (mode: KernelMode) =>
            inMode(mode, () => {
              const s = topkSaeStep(tf.tensor2d(x2, [N2, D2]), weights(q, D2, F2), k2, detachBelow);
              return [s.grads.wEnc, s.grads.bEnc, s.grads.wDec, s.grads.bDec].map(values);
            });
          const simd = run('simd');
          const auto = run('tfjs');
          const ref = topkSae64(x2, D2, F2, k2, toSae64(q), detachBelow).grads;
          const refs = [ref.wEnc, ref.bEnc, ref.wDec, ref.bDec];
          ['wEnc', 'bEnc', 'wDec', 'bDec'].forEach((name, i) => {
            expectClose(
              simd[i],
              auto[i],
              { atolRel: 1e-5 },
              `simd vs autodiff d${name} (detach ${detachBelow})`,
            );
            expectClose(
              simd[i],
              refs[i],
              { atolRel: 1e-5 },
              `simd vs float64 d${name} (detach ${detachBelow})`,
            );
          });
          // Some gradient actually reaches the learnable rows and the biases (the test is not vacuous).
          expect(Math.max(...simd[2].slice(detachBelow * D2).map(Math.abs))).toBeGreaterThan(1e-3);
          expect(Math.max(...simd[1].map(Math.abs))).toBeGreaterThan(1e-3);
        }
      });

      it('a model width that is not a multiple of 4 (D = 6) gives the same loss and gradients in both modes', () => {
        // The SIMD decode and backward kernels walk rows of D in 4-lane vectors; other widths must not
        // read or write past each row (or fall back to the composite formulation).
        const D3 = 6;
        const F3 = 10;
        const k3 = 3;
        const N3 = 5;
        const r3 = new TestRng(5);
        const q = randomSae(r3, D3, F3, 0.2);
        const x3 = r3.normals(N3 * D3);
        const ref = topkSae64(x3, D3, F3, k3, toSae64(q));
        for (const mode of MODES) {
          const r = inMode(mode, () => {
            const s = topkSaeStep(tf.tensor2d(x3, [N3, D3]), weights(q, D3, F3), k3);
            const xhat = decode(
              encode(tf.tensor2d(x3, [N3, D3]), weights(q, D3, F3), k3),
              weights(q, D3, F3),
            );
            return {
              loss: s.loss.dataSync()[0],
              dBdec: values(s.grads.bDec),
              dWdec: values(s.grads.wDec),
              xhat: values(xhat),
            };
          });
          expect(Math.abs(r.loss - ref.loss) / ref.loss, `${mode} loss`).toBeLessThan(1e-5);
          expectClose(r.xhat, ref.xhat, { atolRel: 1e-6 }, `${mode} decode`);
          expectClose(r.dBdec, ref.grads.bDec, { atolRel: 1e-5 }, `${mode} db_dec`);
          expectClose(r.dWdec, ref.grads.wDec, { atolRel: 1e-5 }, `${mode} dW_dec`);
        }
      });
    });
  });
}
