/**
 * Test helpers for the language-model engine: a seeded source of test inputs, closeness assertions, central
 * finite differences, and float64 plain-JS reference implementations of the ops and of the whole toy GPT
 * (SPEC §1.1), written independently of src-main (loops over positions, no tfjs) so they can serve as a second
 * algorithm for the engine's values and gradients.
 */
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';

// ---------------------------------------------------------------------------------------------------------
// Test inputs
// ---------------------------------------------------------------------------------------------------------

/** mulberry32 + Box–Muller: deterministic test data without touching the engine's own Rng. */
export class TestRng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  uniform(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    const u = Math.max(this.uniform(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }
  /** n normals × std + mean, already rounded to float32 (so float32 and float64 code see the same numbers). */
  normals(n: number, std = 1, mean = 0): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = mean + std * this.normal();
    return out;
  }
  ints(n: number, below: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(this.uniform() * below);
    return out;
  }
}

export const prod = (shape: readonly number[]) => shape.reduce((a, c) => a * c, 1);

// ---------------------------------------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------------------------------------

export interface Tol {
  /** Absolute tolerance, as a fraction of max |expected| (so it scales with the data). */
  atolRel?: number;
  /** Plain absolute tolerance. */
  atol?: number;
  /** Relative tolerance per element. */
  rtol?: number;
}

/** |a − e| ≤ atol + atolRel·max|e| + rtol·|e| for every element; the message names the worst element. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tol,
  what = 'values',
): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  const base = (tol.atol ?? 0) + (tol.atolRel ?? 0) * scale;
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    const allowed = base + (tol.rtol ?? 0) * Math.abs(expected[i]);
    if (!(err <= allowed) && (worst < 0 || err - allowed > worstExcess)) {
      worst = i;
      worstExcess = err - allowed;
    }
  }
  if (worst >= 0) {
    expect.fail(
      `${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} ` +
        `(|diff| ${Math.abs(actual[worst] - expected[worst]).toExponential(3)}, max |expected| ${scale.toExponential(3)})`,
    );
  }
}

export const values = (t: tf.Tensor): Float64Array => Float64Array.from(t.dataSync());

/** Runs fn in a tfjs scope (every tensor it makes and does not tf.keep is disposed) and returns its plain result. */
export function scoped<T>(fn: () => T): T {
  tf.engine().startScope();
  try {
    return fn();
  } finally {
    tf.engine().endScope();
  }
}

/** Largest |a − b| / max(max|b|, tiny). */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 1e-30;
  let d = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    d = Math.max(d, Math.abs(a[i] - b[i]));
  }
  return d / scale;
}

// ---------------------------------------------------------------------------------------------------------
// Finite differences (float64)
// ---------------------------------------------------------------------------------------------------------

/**
 * Central differences of a scalar f at x (mutated and restored in place): (f(x+h) − f(x−h)) / 2h. In float64
 * with h = 1e-5 the truncation error is O(h²·f‴) ≈ 1e-10 and the rounding error O(1e-16/h) ≈ 1e-11 for the
 * O(1) functions here, far below the float32 errors being tested.
 */
export function centralDiff(
  f: () => number,
  x: Float64Array,
  h = 1e-5,
  indices?: Iterable<number>,
): Float64Array {
  const g = new Float64Array(x.length);
  for (const i of indices ?? x.keys()) {
    const x0 = x[i];
    x[i] = x0 + h;
    const up = f();
    x[i] = x0 - h;
    const down = f();
    x[i] = x0;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

// ---------------------------------------------------------------------------------------------------------
// float64 reference ops (SPEC §1.1 formulas), row-major flat arrays
// ---------------------------------------------------------------------------------------------------------

export const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

export function gelu64(u: number): number {
  return 0.5 * u * (1 + Math.tanh(SQRT_2_OVER_PI * (u + 0.044715 * u * u * u)));
}

/** LayerNorm over rows of D (biased variance). */
export function layerNorm64(
  x: ArrayLike<number>,
  D: number,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  eps = 1e-5,
): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / D; r++) {
    let mean = 0;
    for (let c = 0; c < D; c++) mean += x[r * D + c];
    mean /= D;
    let v = 0;
    for (let c = 0; c < D; c++) v += (x[r * D + c] - mean) ** 2;
    v /= D;
    const s = Math.sqrt(v + eps);
    for (let c = 0; c < D; c++) y[r * D + c] = ((x[r * D + c] - mean) / s) * gamma[c] + beta[c];
  }
  return y;
}

/**
 * Causal self-attention on qkv [B, T, 3D] (q | k | v, head h = columns h·hd … of each third) → [B, T, D],
 * one query at a time: scores over s ≤ t only, scaled by 1/√hd, softmax, weighted sum of values.
 */
export function attention64(
  qkv: ArrayLike<number>,
  B: number,
  T: number,
  D: number,
  nHead: number,
): Float64Array {
  const hd = D / nHead;
  const out = new Float64Array(B * T * D);
  const at = (b: number, t: number, part: number, h: number, i: number) =>
    qkv[(b * T + t) * 3 * D + part * D + h * hd + i];
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nHead; h++) {
      for (let t = 0; t < T; t++) {
        const scores: number[] = [];
        for (let s = 0; s <= t; s++) {
          let d = 0;
          for (let i = 0; i < hd; i++) d += at(b, t, 0, h, i) * at(b, s, 1, h, i);
          scores.push(d / Math.sqrt(hd));
        }
        const mx = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - mx));
        const z = e.reduce((a, c) => a + c, 0);
        for (let i = 0; i < hd; i++) {
          let o = 0;
          for (let s = 0; s <= t; s++) o += (e[s] / z) * at(b, s, 2, h, i);
          out[(b * T + t) * D + h * hd + i] = o;
        }
      }
    }
  }
  return out;
}

/** Mean over rows of logsumexp(logits) − logits[target]. */
export function xent64(logits: ArrayLike<number>, V: number, targets: ArrayLike<number>): number {
  const N = targets.length;
  let total = 0;
  for (let r = 0; r < N; r++) {
    let mx = -Infinity;
    for (let c = 0; c < V; c++) mx = Math.max(mx, logits[r * V + c]);
    let z = 0;
    for (let c = 0; c < V; c++) z += Math.exp(logits[r * V + c] - mx);
    total += mx + Math.log(z) - logits[r * V + targets[r]];
  }
  return total / N;
}

/** x [N, I] @ W [I, O] (+ b [O]). */
export function linear64(
  x: ArrayLike<number>,
  I: number,
  W: ArrayLike<number>,
  O: number,
  b?: ArrayLike<number>,
): Float64Array {
  const N = x.length / I;
  const y = new Float64Array(N * O);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < I; i++) s += x[n * I + i] * W[i * O + o];
      y[n * O + o] = s;
    }
  }
  return y;
}

// ---------------------------------------------------------------------------------------------------------
// float64 reference GPT
// ---------------------------------------------------------------------------------------------------------

export interface RefConfig {
  vocabSize: number;
  contextLength: number;
  dModel: number;
  nLayer: number;
  nHead: number;
  dMlp: number;
  norm2: 'layernorm' | 'dyt';
  lnEps: number;
}

/**
 * The toy GPT of SPEC §1.1 in float64: h = wte[tok] + wpe[t]; per block h_mid = h + Attn(LN1(h)),
 * h_out = h_mid + MLP(N2(h_mid)); logits = LN_f(h) · wteᵀ. Returns the logits [B·T·V] and every hook value
 * under its TransformerLens name (flat [B·T·width]).
 */
export function refGpt(
  c: RefConfig,
  p: Record<string, ArrayLike<number>>,
  tokens: ArrayLike<number>,
  B: number,
  T: number,
): { logits: Float64Array; hooks: Record<string, Float64Array> } {
  const { vocabSize: V, dModel: D, dMlp: M, nHead, nLayer, lnEps } = c;
  const hooks: Record<string, Float64Array> = {};
  let h = new Float64Array(B * T * D);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const tok = tokens[b * T + t];
      for (let d = 0; d < D; d++)
        h[(b * T + t) * D + d] = p['wte.weight'][tok * D + d] + p['wpe.weight'][t * D + d];
    }
  }
  const add = (a: Float64Array, x: Float64Array) => a.map((v, i) => v + x[i]);
  for (let l = 0; l < nLayer; l++) {
    const w = (n: string) => p[`h.${l}.${n}`];
    const k = (n: string) => `blocks.${l}.${n}`;
    hooks[k('hook_resid_pre')] = h;
    const n1 = layerNorm64(h, D, w('ln_1.weight'), w('ln_1.bias'), lnEps);
    hooks[k('ln1.hook_normalized')] = n1;
    const qkv = linear64(n1, D, w('attn.c_attn.weight'), 3 * D, w('attn.c_attn.bias'));
    const attnOut = linear64(
      attention64(qkv, B, T, D, nHead),
      D,
      w('attn.c_proj.weight'),
      D,
      w('attn.c_proj.bias'),
    );
    hooks[k('hook_attn_out')] = attnOut;
    const mid = add(h, attnOut);
    hooks[k('hook_resid_mid')] = mid;
    let n2: Float64Array;
    if (c.norm2 === 'dyt') {
      const alpha = w('ln_2.alpha')[0];
      const g = w('ln_2.weight');
      const be = w('ln_2.bias');
      n2 = mid.map((x, i) => g[i % D] * Math.tanh(alpha * x) + be[i % D]);
    } else {
      n2 = layerNorm64(mid, D, w('ln_2.weight'), w('ln_2.bias'), lnEps);
    }
    hooks[k('ln2.hook_normalized')] = n2;
    const pre = linear64(n2, D, w('mlp.c_fc.weight'), M, w('mlp.c_fc.bias'));
    hooks[k('mlp.hook_pre')] = pre;
    const post = pre.map(gelu64);
    hooks[k('mlp.hook_post')] = post;
    const mlpOut = linear64(post, M, w('mlp.c_proj.weight'), D, w('mlp.c_proj.bias'));
    hooks[k('hook_mlp_out')] = mlpOut;
    h = add(mid, mlpOut);
    hooks[k('hook_resid_post')] = h;
  }
  const nf = layerNorm64(h, D, p['ln_f.weight'], p['ln_f.bias'], lnEps);
  hooks['ln_final.hook_normalized'] = nf;
  const logits = new Float64Array(B * T * V);
  for (let r = 0; r < B * T; r++) {
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += nf[r * D + d] * p['wte.weight'][v * D + d];
      logits[r * V + v] = s;
    }
  }
  return { logits, hooks };
}
