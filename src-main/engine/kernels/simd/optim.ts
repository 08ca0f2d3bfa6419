// AssemblyScript: one AdamW step over a parameter, fused (the composite form costs a dozen kernel calls per
// parameter). The same f32 operations in the same order as the composite form in optim.ts, so both give the
// same bits:
//   g′ = g·gScale;  m′ = β₁m + (1 − β₁)g′;  v′ = β₂v + (1 − β₂)g′²
//   p′ = p·keep − lr · (m′ / bc₁) / (√(v′ / bc₂) + ε)          keep = 1 − lr·wd
import { f32at } from './math';

export function adamwStep(
  p: usize, g: usize, m: usize, v: usize, pOut: usize, mOut: usize, vOut: usize, n: i32,
  gScale: f32, beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32, bc1: f32, bc2: f32, eps: f32,
  lr: f32, keep: f32, scaled: bool, decayed: bool,
): void {
  const sS = f32x4.splat(gScale);
  const b1 = f32x4.splat(beta1);
  const c1 = f32x4.splat(oneMinusBeta1);
  const b2 = f32x4.splat(beta2);
  const c2 = f32x4.splat(oneMinusBeta2);
  const bc1v = f32x4.splat(bc1);
  const bc2v = f32x4.splat(bc2);
  const epsv = f32x4.splat(eps);
  const lrv = f32x4.splat(lr);
  const keepv = f32x4.splat(keep);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    let gi = v128.load(f32at(g, i));
    if (scaled) gi = f32x4.mul(gi, sS);
    const mi = f32x4.add(f32x4.mul(v128.load(f32at(m, i)), b1), f32x4.mul(gi, c1));
    const vi = f32x4.add(f32x4.mul(v128.load(f32at(v, i)), b2), f32x4.mul(f32x4.mul(gi, gi), c2));
    v128.store(f32at(mOut, i), mi);
    v128.store(f32at(vOut, i), vi);
    const upd = f32x4.div(f32x4.div(mi, bc1v), f32x4.add(f32x4.sqrt(f32x4.div(vi, bc2v)), epsv));
    let pi = v128.load(f32at(p, i));
    if (decayed) pi = f32x4.mul(pi, keepv);
    v128.store(f32at(pOut, i), f32x4.sub(pi, f32x4.mul(upd, lrv)));
  }
  for (; i < n; i++) {
    let gi = load<f32>(f32at(g, i));
    if (scaled) gi = gi * gScale;
    const mi = load<f32>(f32at(m, i)) * beta1 + gi * oneMinusBeta1;
    const vi = load<f32>(f32at(v, i)) * beta2 + gi * gi * oneMinusBeta2;
    store<f32>(f32at(mOut, i), mi);
    store<f32>(f32at(vOut, i), vi);
    const upd = mi / bc1 / (Mathf.sqrt(vi / bc2) + eps);
    let pi = load<f32>(f32at(p, i));
    if (decayed) pi = pi * keep;
    store<f32>(f32at(pOut, i), pi - upd * lr);
  }
}
