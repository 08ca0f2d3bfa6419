/**
 * The kernel test suite, run once per backend (kernels.test.ts: wasm, kernels.cpu.test.ts: cpu). For every op in
 * kernels/ops.ts: the SIMD formulation against the composite tfjs one on random inputs of awkward sizes, values and
 * gradients (tf.grads with a random cotangent); both formulations against hand-computed values; and both
 * formulations' gradients against float64 central finite differences of plain-JS re-implementations.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';

import {
  causalSelfAttention,
  dyt,
  embedding,
  gelu,
  kernelMode,
  layerNorm,
  linear,
  matMul,
  setKernelMode,
  softmaxCrossEntropy,
  transpose2d,
  type KernelMode,
} from '../../src-main/engine/kernels/ops.ts';
import {
  attention64,
  centralDiff,
  expectClose,
  gelu64,
  layerNorm64,
  prod,
  scoped,
  TestRng,
  values,
  xent64,
  type Tol,
} from './lm.helpers.ts';

export const MODES: readonly KernelMode[] = ['simd', 'tfjs'];

export function inMode<T>(mode: KernelMode, fn: () => T): T {
  setKernelMode(mode);
  try {
    expect(kernelMode()).toBe(mode);
    return scoped(fn);
  } finally {
    setKernelMode(null);
  }
}

/** One op on fixed random inputs. `make` builds the differentiable inputs; `fn` may close over non-differentiable ones. */
interface OpCase {
  name: string;
  make: (rng: TestRng) => { inputs: tf.Tensor[]; fn: (...xs: tf.Tensor[]) => tf.Tensor };
}

interface OpResult {
  value: Float64Array;
  shape: number[];
  grads: Float64Array[];
}

/** Value and the gradients of Σ cot ⊙ fn(inputs) for a random cotangent (same seed in both modes). */
function evaluate(c: OpCase, mode: KernelMode, seed: number): OpResult {
  return inMode(mode, () => {
    const rng = new TestRng(seed);
    const { inputs, fn } = c.make(rng);
    const y = fn(...inputs);
    const cot = tf.tensor(rng.normals(y.size), y.shape);
    const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(fn(...xs), cot)))(inputs);
    return { value: values(y), shape: y.shape, grads: grads.map(values) };
  });
}

const randn = (rng: TestRng, shape: number[], std = 1, mean = 0) =>
  tf.tensor(rng.normals(prod(shape), std, mean), shape);

// ---------------------------------------------------------------------------------------------------------
// The cases: sizes deliberately not multiples of 4 wherever an op takes arbitrary sizes.
// ---------------------------------------------------------------------------------------------------------

const linearCases: OpCase[] = [
  {
    name: 'linear x[5,7] W[7,3] + b',
    make: (r) => ({
      inputs: [randn(r, [5, 7]), randn(r, [7, 3]), randn(r, [3])],
      fn: (x, w, b) => linear(x, w as tf.Tensor2D, b as tf.Tensor1D),
    }),
  },
  {
    name: 'linear x[2,3,7] W[7,5] (no bias)',
    make: (r) => ({
      inputs: [randn(r, [2, 3, 7]), randn(r, [7, 5])],
      fn: (x, w) => linear(x, w as tf.Tensor2D),
    }),
  },
  {
    name: 'linear x[1,1] W[1,1] + b',
    make: (r) => ({
      inputs: [randn(r, [1, 1]), randn(r, [1, 1]), randn(r, [1])],
      fn: (x, w, b) => linear(x, w as tf.Tensor2D, b as tf.Tensor1D),
    }),
  },
  {
    name: 'linear x[3,2,9] W[9,13] + b',
    make: (r) => ({
      inputs: [randn(r, [3, 2, 9]), randn(r, [9, 13]), randn(r, [13])],
      fn: (x, w, b) => linear(x, w as tf.Tensor2D, b as tf.Tensor1D),
    }),
  },
  {
    name: 'matMul [5,7]@[7,6]',
    make: (r) => ({
      inputs: [randn(r, [5, 7]), randn(r, [7, 6])],
      fn: (a, b) => matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    }),
  },
  {
    name: 'matMul [1,3]@[3,1]',
    make: (r) => ({
      inputs: [randn(r, [1, 3]), randn(r, [3, 1])],
      fn: (a, b) => matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    }),
  },
];

const transposeCases: OpCase[] = [
  [5, 7],
  [4, 8],
  [1, 1],
  [9, 13],
  [3, 1],
  [1, 6],
  [8, 12],
].map(([R, C]) => ({
  name: `transpose2d [${R},${C}]`,
  make: (r) => ({ inputs: [randn(r, [R, C])], fn: (x) => transpose2d(x as tf.Tensor2D) }),
}));

const geluCases: OpCase[] = [
  { name: 'gelu [7] (std 3)', make: (r) => ({ inputs: [randn(r, [7], 3)], fn: (x) => gelu(x) }) },
  { name: 'gelu [2,13] (std 2)', make: (r) => ({ inputs: [randn(r, [2, 13], 2)], fn: (x) => gelu(x) }) },
  { name: 'gelu [1]', make: (r) => ({ inputs: [randn(r, [1])], fn: (x) => gelu(x) }) },
  {
    name: 'gelu on extremes and near zero',
    make: () => ({
      inputs: [tf.tensor([-60, -10, -3, -1e-3, 0, 1e-3, 3, 10, 60, -5.5, 5.5])],
      fn: (x) => gelu(x),
    }),
  },
];

const ln = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => layerNorm(x, g as tf.Tensor1D, b as tf.Tensor1D);
const layerNormCase = (N: number, D: number): OpCase => ({
  name: `layerNorm [${N},${D}]`,
  // Mean 3 and std 2 per row, so a kernel that skipped the centring or the scaling would be far off.
  make: (r) => ({ inputs: [randn(r, [N, D], 2, 3), randn(r, [D], 0.3, 1), randn(r, [D], 0.2)], fn: ln }),
});
const layerNormCases: OpCase[] = [
  layerNormCase(5, 4),
  layerNormCase(3, 12),
  layerNormCase(7, 64),
  layerNormCase(1, 8),
  // D not a multiple of 4: the SIMD kernel's rows are 4-lane loops, so the op must not hand it such rows.
  layerNormCase(3, 6),
  layerNormCase(2, 10),
  {
    name: 'layerNorm [2,3,8] (3-D)',
    make: (r) => ({
      inputs: [randn(r, [2, 3, 8], 1.5, -1), randn(r, [8], 0.3, 1), randn(r, [8], 0.2)],
      fn: ln,
    }),
  },
];

const dytCases: OpCase[] = [
  {
    name: 'dyt [5,6] α 0.8',
    make: (r) => ({
      inputs: [randn(r, [5, 6]), tf.scalar(0.8), randn(r, [6], 0.3, 1), randn(r, [6], 0.2)],
      fn: (x, a, g, b) => dyt(x, a, g as tf.Tensor1D, b as tf.Tensor1D),
    }),
  },
  {
    name: 'dyt [3,8] α 10 (saturating)',
    make: (r) => ({
      inputs: [randn(r, [3, 8], 0.2), tf.scalar(10), randn(r, [8], 0.3, 1), randn(r, [8], 0.2)],
      fn: (x, a, g, b) => dyt(x, a, g as tf.Tensor1D, b as tf.Tensor1D),
    }),
  },
];

const embeddingCase = (V: number, D: number, N: number): OpCase => ({
  name: `embedding table[${V},${D}] ids[${N}]`,
  make: (r) => {
    const ids = tf.tensor1d(r.ints(N, V), 'int32'); // N > V in some cases: repeated ids accumulate gradient
    return { inputs: [randn(r, [V, D])], fn: (t) => embedding(t as tf.Tensor2D, ids) };
  },
});
const embeddingCases: OpCase[] = [
  embeddingCase(11, 8, 9),
  embeddingCase(11, 4, 30),
  embeddingCase(128, 64, 33),
  embeddingCase(3, 4, 1),
  embeddingCase(5, 6, 12),
  embeddingCase(7, 10, 5),
];

const xentCase = (N: number, V: number, std: number): OpCase => ({
  name: `softmaxCrossEntropy logits[${N},${V}]`,
  make: (r) => {
    const targets = tf.tensor1d(r.ints(N, V), 'int32');
    return { inputs: [randn(r, [N, V], std)], fn: (l) => softmaxCrossEntropy(l as tf.Tensor2D, targets) };
  },
});
const xentCases: OpCase[] = [
  xentCase(7, 3, 1),
  xentCase(5, 11, 3),
  xentCase(3, 128, 2),
  xentCase(1, 2, 1),
  xentCase(4, 5, 30),
  xentCase(33, 7, 1),
];

const attentionCase = (B: number, T: number, H: number, hd: number): OpCase => ({
  name: `causalSelfAttention B${B} T${T} heads ${H}×${hd}`,
  // std 1.5 makes the softmax far from uniform, so the masking and the normalisation both matter.
  make: (r) => ({
    inputs: [randn(r, [B, T, 3 * H * hd], 1.5)],
    fn: (q) => causalSelfAttention(q as tf.Tensor3D, H),
  }),
});
const attentionCases: OpCase[] = [
  attentionCase(2, 1, 2, 4),
  attentionCase(1, 2, 1, 8),
  attentionCase(2, 5, 3, 16),
  attentionCase(1, 33, 2, 4),
  attentionCase(2, 33, 1, 16),
  attentionCase(1, 5, 2, 8),
  attentionCase(3, 2, 4, 4),
  // Head dims of several sixteen-column chunks (the register-blocked path; GPT-2 Small has 64).
  attentionCase(1, 9, 2, 32),
  attentionCase(2, 6, 1, 64),
  // Head dims that are not multiples of 4 (the SIMD kernel works on 4-lane vectors).
  attentionCase(1, 5, 1, 6),
  attentionCase(2, 3, 2, 2),
];

export const ALL_CASES: Record<string, OpCase[]> = {
  'linear / matMul': linearCases,
  transpose2d: transposeCases,
  gelu: geluCases,
  layerNorm: layerNormCases,
  dyt: dytCases,
  embedding: embeddingCases,
  softmaxCrossEntropy: xentCases,
  causalSelfAttention: attentionCases,
};

// Tolerances for SIMD vs composite. Both are float32 with different summation orders (and the SIMD exp is a
// degree-6 polynomial, relative error ~1e-7), so agreement is expected to a few float32 ulps of the largest value;
// 1e-5 of max|·| is far looser than that yet far tighter than any real defect (a wrong scale, a missing term, a
// mask off by one all give O(max|·|) errors).
const VALUE_TOL: Tol = { atolRel: 1e-5 };
const GRAD_TOL: Tol = { atolRel: 2e-5 };

export function defineKernelSuite(backend: 'wasm' | 'cpu'): void {
  afterEach(() => setKernelMode(null));

  describe(`SIMD kernels vs composite tfjs ops on ${backend}`, () => {
    for (const [group, cases] of Object.entries(ALL_CASES)) {
      describe(group, () => {
        cases.forEach((c, i) => {
          it(c.name, () => {
            const seed = 1000 + 17 * i + group.length;
            const s = evaluate(c, 'simd', seed);
            const t = evaluate(c, 'tfjs', seed);
            expect(s.shape).toEqual(t.shape);
            expect(s.value.every(Number.isFinite), 'SIMD values are finite').toBe(true);
            expectClose(s.value, t.value, VALUE_TOL, `${c.name} value`);
            expect(s.grads.length).toBe(t.grads.length);
            s.grads.forEach((g, k) =>
              expectClose(g, t.grads[k], GRAD_TOL, `${c.name} gradient of input ${k}`),
            );
          });
        });
      });
    }

    it('forward + backward of every op leaks no tensors (SIMD and composite)', () => {
      for (const mode of MODES) {
        for (const cases of Object.values(ALL_CASES)) {
          for (const c of cases) {
            const before = tf.memory().numTensors;
            setKernelMode(mode);
            tf.tidy(() => {
              const { inputs, fn } = c.make(new TestRng(1));
              const cot = tf.onesLike(fn(...inputs));
              tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(fn(...xs), cot)))(inputs);
            });
            setKernelMode(null);
            expect(tf.memory().numTensors, `${mode} ${c.name}`).toBe(before);
          }
        }
      }
    });
  });

  describe(`hand-computed values on ${backend}`, () => {
    for (const mode of MODES) {
      describe(`${mode} formulation`, () => {
        it('gelu_tanh at fixed points', () => {
          // ½u(1 + tanh(√(2/π)(u + 0.044715u³))) evaluated in float64 (Python math): gelu(1) = 0.8411919906082768,
          // gelu(-3) = -0.0036373920817729943, gelu(0.5) = 0.34571400982514394, gelu(2) = 1.954597694087775;
          // gelu(0) = 0 exactly; gelu(10) = 10 and gelu(-10) = -0 to float32 precision (tanh saturates).
          const u = [1, -3, 0, 0.5, 2, -0.5, 10, -10];
          const expected = [
            0.8411919906082768, -0.0036373920817729943, 0, 0.34571400982514394, 1.954597694087775,
            -0.15428599017485606, 10, 0,
          ];
          const got = inMode(mode, () => values(gelu(tf.tensor(u))));
          expectClose(got, expected, { atol: 2e-7, rtol: 2e-6 }, 'gelu');
          expect(got[2]).toBe(0);
        });

        it('layerNorm of [1, 2, 3, 4] with γ = 1, β = 0', () => {
          // mean 2.5, biased variance ((1.5² + 0.5²)·2)/4 = 1.25, so y = (x − 2.5)/√(1.25 + 1e-5)
          // = [−1.3416354199689269, −0.447211806656309, 0.447211806656309, 1.3416354199689269].
          const got = inMode(mode, () =>
            values(
              layerNorm(
                tf.tensor2d([[1, 2, 3, 4]]),
                tf.ones([4]) as tf.Tensor1D,
                tf.zeros([4]) as tf.Tensor1D,
              ),
            ),
          );
          expectClose(
            got,
            [-1.3416354199689269, -0.447211806656309, 0.447211806656309, 1.3416354199689269],
            { atol: 1e-6 },
            'layerNorm',
          );
          // γ = 2, β = 1 on a second row [10, 10, 10, 14]: mean 11, variance 3, y = 2(x − 11)/√(3 + 1e-5) + 1.
          const s = Math.sqrt(3 + 1e-5);
          const got2 = inMode(mode, () =>
            values(
              layerNorm(
                tf.tensor2d([[10, 10, 10, 14]]),
                tf.fill([4], 2) as tf.Tensor1D,
                tf.ones([4]) as tf.Tensor1D,
              ),
            ),
          );
          expectClose(
            got2,
            [1 - 2 / s, 1 - 2 / s, 1 - 2 / s, 1 + 6 / s],
            { atol: 2e-6 },
            'layerNorm γ=2 β=1',
          );
        });

        it('causal attention with T = 2 worked by hand', () => {
          // One head, hd = 4, scale 1/√4 = ½. Position 0 sees only itself, so out₀ = v₀ whatever q₀ is.
          // Position 1: q₁ = [2,0,0,0], k₀ = 0, k₁ = [ln 3,0,0,0] → scores [0, ln 3] → softmax [¼, ¾];
          // out₁ = ¼·v₀ + ¾·v₁ = ¼·[4,0,0,8] + ¾·[0,4,8,0] = [1, 3, 6, 2].
          const q = [
            [5, -5, 5, 5],
            [2, 0, 0, 0],
          ];
          const k = [
            [0, 0, 0, 0],
            [Math.log(3), 0, 0, 0],
          ];
          const v = [
            [4, 0, 0, 8],
            [0, 4, 8, 0],
          ];
          const qkv = tf.tensor3d([[0, 1].map((t) => [...q[t], ...k[t], ...v[t]])]);
          const got = inMode(mode, () => values(causalSelfAttention(qkv, 1)));
          expectClose(got, [4, 0, 0, 8, 1, 3, 6, 2], { atol: 2e-6 }, 'attention');
          // Causality: changing position 1 entirely leaves position 0's output unchanged.
          const qkv2 = tf.tensor3d([
            [
              [...q[0], ...k[0], ...v[0]],
              [9, 9, 9, 9, -7, 3, 1, 2, 100, 100, 100, 100],
            ],
          ]);
          const got2 = inMode(mode, () => values(causalSelfAttention(qkv2, 1)));
          expect(Array.from(got2.slice(0, 4))).toEqual([4, 0, 0, 8]);
          qkv.dispose();
          qkv2.dispose();
        });

        it('causal attention with two heads keeps the heads apart', () => {
          // Head 0 uses columns 0..3 of each third, head 1 columns 4..7. Position 0 → out₀ = v₀ for both heads.
          // Head 1 at position 1: q = [0,0,0,0] → equal scores → ½(v₀ + v₁). Head 0 as in the test above.
          const row = (q: number[], k: number[], v: number[]) => [...q, ...k, ...v];
          const t0 = row([5, 5, 5, 5, 1, 2, 3, 4], [0, 0, 0, 0, 1, 1, 1, 1], [4, 0, 0, 8, 2, 4, 6, 8]);
          const t1 = row(
            [2, 0, 0, 0, 0, 0, 0, 0],
            [Math.log(3), 0, 0, 0, 5, 5, 5, 5],
            [0, 4, 8, 0, 0, 0, 2, 0],
          );
          const got = inMode(mode, () => values(causalSelfAttention(tf.tensor3d([[t0, t1]]), 2)));
          expectClose(
            got,
            [4, 0, 0, 8, 2, 4, 6, 8, 1, 3, 6, 2, 1, 2, 4, 4],
            { atol: 2e-6 },
            'two-head attention',
          );
        });

        it('softmax cross-entropy of known 3-class cases', () => {
          // logits [1,2,3], target 0: −log(e¹/(e¹+e²+e³)) = log(1 + e + e²) = 2.40760596444438;
          // target 2: log(1 + e⁻¹ + e⁻²) = 0.4076059644443804; logits [0,0,0]: ln 3 = 1.0986122886681098.
          // The op returns the mean over rows.
          const logits = tf.tensor2d([
            [1, 2, 3],
            [1, 2, 3],
            [0, 0, 0],
          ]);
          const targets = tf.tensor1d([0, 2, 1], 'int32');
          const got = inMode(mode, () => softmaxCrossEntropy(logits, targets).dataSync()[0]);
          expect(got).toBeCloseTo((2.40760596444438 + 0.4076059644443804 + 1.0986122886681098) / 3, 6);
          // Gradient of the mean: (softmax − onehot)/N; softmax([1,2,3]) = [1, e, e²]/(1 + e + e²).
          const z = 1 + Math.E + Math.E ** 2;
          const sm = [1 / z, Math.E / z, Math.E ** 2 / z];
          const expected = [
            (sm[0] - 1) / 3,
            sm[1] / 3,
            sm[2] / 3,
            sm[0] / 3,
            sm[1] / 3,
            (sm[2] - 1) / 3,
            1 / 9,
            1 / 9 - 1 / 3,
            1 / 9,
          ];
          const grad = inMode(mode, () =>
            values(tf.grad((l: tf.Tensor) => softmaxCrossEntropy(l as tf.Tensor2D, targets))(logits)),
          );
          expectClose(grad, expected, { atol: 1e-7 }, 'xent gradient');
          // Shift invariance with large logits (no overflow): [1001, 1002, 1003] gives the same loss as [1, 2, 3].
          const big = inMode(
            mode,
            () =>
              softmaxCrossEntropy(tf.tensor2d([[1001, 1002, 1003]]), tf.tensor1d([0], 'int32')).dataSync()[0],
          );
          expect(big).toBeCloseTo(2.40760596444438, 4);
          tf.dispose([logits, targets]);
        });

        it('embedding picks table rows; its gradient sums the rows of repeated ids', () => {
          const table = tf.tensor2d([
            [1, 2, 3, 4],
            [5, 6, 7, 8],
            [9, 10, 11, 12],
          ]);
          const ids = tf.tensor1d([2, 0, 2], 'int32');
          const got = inMode(mode, () => values(embedding(table, ids)));
          expect(Array.from(got)).toEqual([9, 10, 11, 12, 1, 2, 3, 4, 9, 10, 11, 12]);
          const dy = tf.tensor2d([
            [1, 0, 0, 0],
            [0, 2, 0, 0],
            [0, 0, 3, 1],
          ]);
          const g = inMode(mode, () =>
            values(tf.grad((t: tf.Tensor) => tf.sum(tf.mul(embedding(t as tf.Tensor2D, ids), dy)))(table)),
          );
          // row 0 ← dy₁, row 1 ← nothing, row 2 ← dy₀ + dy₂
          expect(Array.from(g)).toEqual([0, 2, 0, 0, 0, 0, 0, 0, 1, 0, 3, 1]);
          tf.dispose([table, ids, dy]);
        });
      });
    }
  });

  describe(`gradients against float64 central finite differences on ${backend}`, () => {
    // Each check: L(x) = Σ cot ⊙ f(x) with f re-implemented in float64 JS (lm.helpers.ts); ∂L/∂x by central
    // differences (h = 1e-5, error ≲ 1e-9 here) against tf.grads of the op in float32. Tolerance 1e-4 of the
    // largest gradient entry (+1e-4 relative): float32 keeps ~7 digits and these are a handful of ops deep, while
    // a wrong formula is off by O(1).
    const FD_TOL: Tol = { atolRel: 1e-4, rtol: 1e-4 };

    for (const mode of MODES) {
      describe(`${mode} formulation`, () => {
        it('gelu on a 2×3 input', () => {
          const rng = new TestRng(11);
          const x = rng.normals(6, 1.5);
          const cot = rng.normals(6);
          const g = inMode(mode, () =>
            values(
              tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gelu(t), tf.tensor(cot, [2, 3]))))(
                tf.tensor(x, [2, 3]),
              ),
            ),
          );
          const x64 = Float64Array.from(x);
          const fd = centralDiff(() => x64.reduce((s, u, i) => s + cot[i] * gelu64(u), 0), x64);
          expectClose(g, fd, FD_TOL, 'gelu gradient');
        });

        for (const D of [4, 3]) {
          it(`layerNorm on a 2×${D} input (x, γ and β)`, () => {
            const rng = new TestRng(12 + D);
            const x = rng.normals(2 * D, 1.5, 0.5);
            const gamma = rng.normals(D, 0.3, 1);
            const beta = rng.normals(D, 0.3);
            const cot = rng.normals(2 * D);
            const grads = inMode(mode, () =>
              tf
                .grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
                  tf.sum(tf.mul(layerNorm(a, b as tf.Tensor1D, c as tf.Tensor1D), tf.tensor(cot, [2, D]))),
                )([tf.tensor(x, [2, D]), tf.tensor(gamma), tf.tensor(beta)])
                .map(values),
            );
            const [x64, g64, b64] = [x, gamma, beta].map((a) => Float64Array.from(a));
            const L = () => layerNorm64(x64, D, g64, b64).reduce((s, y, i) => s + cot[i] * y, 0);
            expectClose(grads[0], centralDiff(L, x64), FD_TOL, 'layerNorm dx');
            expectClose(grads[1], centralDiff(L, g64), FD_TOL, 'layerNorm dγ');
            expectClose(grads[2], centralDiff(L, b64), FD_TOL, 'layerNorm dβ');
          });
        }

        it('softmax cross-entropy on 2×3 logits', () => {
          const rng = new TestRng(13);
          const logits = rng.normals(6, 2);
          const targets = [2, 0];
          const g = inMode(mode, () =>
            values(
              tf.grad((l: tf.Tensor) => softmaxCrossEntropy(l as tf.Tensor2D, tf.tensor1d(targets, 'int32')))(
                tf.tensor(logits, [2, 3]),
              ),
            ),
          );
          const l64 = Float64Array.from(logits);
          expectClose(
            g,
            centralDiff(() => xent64(l64, 3, targets), l64),
            FD_TOL,
            'xent gradient',
          );
          const loss = inMode(
            mode,
            () =>
              softmaxCrossEntropy(
                tf.tensor(logits, [2, 3]) as tf.Tensor2D,
                tf.tensor1d(targets, 'int32'),
              ).dataSync()[0],
          );
          expect(loss).toBeCloseTo(xent64(l64, 3, targets), 6);
        });

        for (const [T, H, hd] of [
          [3, 1, 4],
          [2, 2, 4],
          [5, 2, 8],
        ]) {
          it(`causal attention, T = ${T}, ${H} head(s) of ${hd}`, () => {
            const D = H * hd;
            const rng = new TestRng(14 + T);
            const qkv = rng.normals(T * 3 * D, 1.2);
            const cot = rng.normals(T * D);
            const out = inMode(mode, () => {
              const f = (q: tf.Tensor) => causalSelfAttention(q as tf.Tensor3D, H);
              const x = tf.tensor(qkv, [1, T, 3 * D]);
              return {
                y: values(f(x)),
                g: values(tf.grad((q: tf.Tensor) => tf.sum(tf.mul(f(q), tf.tensor(cot, [1, T, D]))))(x)),
              };
            });
            const q64 = Float64Array.from(qkv);
            expectClose(out.y, attention64(q64, 1, T, D, H), { atolRel: 1e-6 }, 'attention value');
            const fd = centralDiff(
              () => attention64(q64, 1, T, D, H).reduce((s, y, i) => s + cot[i] * y, 0),
              q64,
            );
            expectClose(out.g, fd, FD_TOL, 'attention gradient');
          });
        }
      });
    }
  });
}
