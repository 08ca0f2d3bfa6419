/** WGSL twins of the elementwise kernels (simd/optim.ts, simd/pointwise.ts): fused AdamW, GELU and its gradient. */
import { bindings, dispatch, f32, flatMain, i32, size, threads, type KernelBody } from './dispatch.ts';

// ---------------------------------------------------------------------------------------------------------
// Fused AdamW (simd/optim.ts): the same f32 operations in the same order as the composite form.
// ---------------------------------------------------------------------------------------------------------
const ADAMW_CODE = `
${bindings(
  [
    ['pOut', 'f32'],
    ['mOut', 'f32'],
    ['vOut', 'f32'],
  ],
  [
    ['p', 'f32'],
    ['g', 'f32'],
    ['m', 'f32'],
    ['v', 'f32'],
  ],
  [
    ['n', 'i32'],
    ['gScale', 'f32'],
    ['beta1', 'f32'],
    ['c1', 'f32'],
    ['beta2', 'f32'],
    ['c2', 'f32'],
    ['bc1', 'f32'],
    ['bc2', 'f32'],
    ['eps', 'f32'],
    ['lr', 'f32'],
    ['keep', 'f32'],
    ['scaled', 'i32'],
    ['decayed', 'i32'],
  ],
)}
${flatMain(`  if (gid >= u.n) { return; }
  var gi = g[gid];
  if (u.scaled != 0) { gi = gi * u.gScale; }
  let mi = m[gid] * u.beta1 + gi * u.c1;
  let vi = v[gid] * u.beta2 + gi * gi * u.c2;
  mOut[gid] = mi;
  vOut[gid] = vi;
  let upd = mi / u.bc1 / (sqrt(vi / u.bc2) + u.eps);
  var pi = p[gid];
  if (u.decayed != 0) { pi = pi * u.keep; }
  pOut[gid] = pi - upd * u.lr;`)}`;

// ---------------------------------------------------------------------------------------------------------
// GELU (tanh form) and its derivative, elementwise.
// ---------------------------------------------------------------------------------------------------------
const GELU_COMMON = `
const C0 = 0.7978845608028654; // √(2/π)
const C1 = 0.044715;
fn tanh_(z: f32) -> f32 { let e = exp(-2.0 * abs(z)); return sign(z) * (1.0 - e) / (1.0 + e); }`;
const GELU_CODE = `
${bindings([['y', 'f32']], [['x', 'f32']], [['n', 'i32']])}
${GELU_COMMON}
${flatMain(`  if (gid >= u.n) { return; }
  let v = x[gid];
  y[gid] = 0.5 * v * (1.0 + tanh_(C0 * (v + C1 * v * v * v)));`)}`;
const GELU_GRAD_CODE = `
${bindings(
  [['dx', 'f32']],
  [
    ['x', 'f32'],
    ['dy', 'f32'],
  ],
  [['n', 'i32']],
)}
${GELU_COMMON}
${flatMain(`  if (gid >= u.n) { return; }
  let v = x[gid];
  let t = tanh_(C0 * (v + C1 * v * v * v));
  let dt = (1.0 - t * t) * C0 * (1.0 + 3.0 * C1 * v * v);
  dx[gid] = dy[gid] * (0.5 * (1.0 + t) + 0.5 * v * dt);`)}`;

export const pointwiseKernels: Record<string, KernelBody> = {
  ScalarAdamW(backend, { p, g, m, v }, a) {
    const n = size(p.shape);
    const outs = dispatch(backend, {
      label: 'adamw',
      code: ADAMW_CODE,
      outputs: [{ shape: p.shape }, { shape: p.shape }, { shape: p.shape }],
      inputs: [p, g, m, v],
      uniforms: [
        i32(n),
        f32(a.gScale),
        f32(a.beta1),
        f32(a.oneMinusBeta1),
        f32(a.beta2),
        f32(a.oneMinusBeta2),
        f32(a.bc1),
        f32(a.bc2),
        f32(a.eps),
        f32(a.lr),
        f32(a.keep),
        i32(a.gScale === 1 ? 0 : 1),
        i32(a.keep === 1 ? 0 : 1),
      ],
      groups: threads(n),
    });
    return outs;
  },
  ScalarGelu(backend, { x }) {
    const n = size(x.shape);
    return dispatch(backend, {
      label: 'gelu',
      code: GELU_CODE,
      outputs: [{ shape: x.shape }],
      inputs: [x],
      uniforms: [i32(n)],
      groups: threads(n),
    })[0];
  },
  ScalarGeluGrad(backend, { x, dy }) {
    const n = size(x.shape);
    return dispatch(backend, {
      label: 'gelu-grad',
      code: GELU_GRAD_CODE,
      outputs: [{ shape: x.shape }],
      inputs: [x, dy],
      uniforms: [i32(n)],
      groups: threads(n),
    })[0];
  },
};
