// AssemblyScript: shared SIMD helpers. No static data anywhere in this module: it runs inside tfjs-wasm's
// own linear memory, so a data segment would overwrite the host's heap.

/** e^x for a vector of x ≤ 0 (flushes to 0 below -87). x·log2e = n + f, 2^f by a degree-6 polynomial. */
@inline export function expNeg(x: v128): v128 {
  const t = f32x4.mul(x, f32x4.splat(1.4426950408889634));
  const keep = f32x4.ge(t, f32x4.splat(-126.0));
  const tc = f32x4.max(t, f32x4.splat(-126.0));
  const n = f32x4.nearest(tc);
  const f = f32x4.sub(tc, n);
  let p = f32x4.splat(1.5403530393381606e-4);
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(1.3333558146428443e-3));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(9.6181291076284772e-3));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(5.550410866482158e-2));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(2.4022650695910071e-1));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(6.9314718055994531e-1));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(1.0));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return v128.and(f32x4.mul(p, scale), keep);
}

/** Scalar e^x for x ≤ 0, through lane 0 of the vector version (identical rounding to the SIMD path). */
@inline export function expNeg1(x: f32): f32 {
  return f32x4.extract_lane(expNeg(f32x4.splat(x)), 0);
}

/** Logistic sigmoid σ(y) for any y, computed from e^{-|y|} so it never overflows. */
@inline export function sigmoid4(y: v128): v128 {
  const e = expNeg(f32x4.neg(f32x4.abs(y)));
  const one = f32x4.splat(1.0);
  const inv = f32x4.div(one, f32x4.add(one, e));
  return v128.bitselect(inv, f32x4.mul(e, inv), f32x4.ge(y, f32x4.splat(0)));
}

@inline export function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

@inline export function dot(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  for (let c = 0; c < n; c += 4) {
    const o = <usize>c << 2;
    acc = f32x4.add(acc, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  return hsum(acc);
}

/** y[0..n) += w · x[0..n), n a multiple of 4. */
@inline export function axpy(y: usize, w: f32, x: usize, n: i32): void {
  const ww = f32x4.splat(w);
  for (let c = 0; c < n; c += 4) {
    const o = <usize>c << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(ww, v128.load(x + o))));
  }
}

@inline export function f32at(base: usize, i: i32): usize {
  return base + (<usize>i << 2);
}

/** [a·k0, a·k1, a·k2, a·k3] for four rows k_j = k + j·stride (bytes), all of length n (multiple of 4). */
@inline export function dot4(a: usize, k: usize, stride: usize, n: i32): v128 {
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  let s2 = f32x4.splat(0);
  let s3 = f32x4.splat(0);
  for (let c = 0; c < n; c += 4) {
    const o = <usize>c << 2;
    const av = v128.load(a + o);
    s0 = f32x4.add(s0, f32x4.mul(av, v128.load(k + o)));
    s1 = f32x4.add(s1, f32x4.mul(av, v128.load(k + stride + o)));
    s2 = f32x4.add(s2, f32x4.mul(av, v128.load(k + 2 * stride + o)));
    s3 = f32x4.add(s3, f32x4.mul(av, v128.load(k + 3 * stride + o)));
  }
  const t0 = f32x4.add(v128.shuffle<f32>(s0, s1, 0, 4, 1, 5), v128.shuffle<f32>(s0, s1, 2, 6, 3, 7));
  const t1 = f32x4.add(v128.shuffle<f32>(s2, s3, 0, 4, 1, 5), v128.shuffle<f32>(s2, s3, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(t0, t1, 0, 1, 4, 5), v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
}

/**
 * LayerNorm's Jacobian in rank-1 form, at a point with normalised input ŷ and 1/σ = rstd. Forward
 * (gammaFirst = false), a direction v through the norm: γ/σ ⊙ (v − mean(v) − ŷ·(ŷ·v)/D). Transposed
 * (gammaFirst = true), a gradient back through it: w = γ ⊙ v, (w − mean(w) − ŷ·(ŷ·w)/D)/σ. out may alias v.
 */
@inline export function lnApply(out: usize, v: usize, yhat: usize, gamma: usize, rstd: f32, D: i32, gammaFirst: bool): void {
  // forward (gammaFirst = false): out = γ/σ ⊙ (v − mean(v) − (v·ŷ/D) ŷ)
  // transposed (gammaFirst = true): w = v ⊙ γ; out = (w − mean(w) − (w·ŷ/D) ŷ)/σ
  let mean: f32 = 0;
  let proj: f32 = 0;
  for (let c = 0; c < D; c++) {
    const x = load<f32>(f32at(v, c)) * (gammaFirst ? load<f32>(f32at(gamma, c)) : 1);
    mean += x;
    proj += x * load<f32>(f32at(yhat, c));
  }
  mean /= <f32>D;
  proj /= <f32>D;
  for (let c = 0; c < D; c++) {
    const x = load<f32>(f32at(v, c)) * (gammaFirst ? load<f32>(f32at(gamma, c)) : 1);
    const r = (x - mean - proj * load<f32>(f32at(yhat, c))) * rstd;
    store<f32>(f32at(out, c), gammaFirst ? r : r * load<f32>(f32at(gamma, c)));
  }
}
