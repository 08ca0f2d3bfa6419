/**
 * WGSL twins of the SIMD kernels (kernels/simd/), registered under the same `Scalar*` names for the webgpu
 * backend, with the same inputs, attributes, outputs and layouts, so ops.ts, topk.ts and optim.ts call them
 * unchanged (ops.ts `useKernel` picks them per kernel; kernels without a twin take the composite tfjs path).
 *
 * Every result is deterministic: each output element is written by one invocation that sums in a fixed order,
 * and reductions across invocations go through fixed trees or fixed chunks — no float atomics. The SAE
 * backward scatters into latent rows by sorting the (token, slot) entries by latent (a bitonic sort on the
 * GPU), so each latent's row is then a gather in token order, the order the SIMD kernel adds in.
 */
import * as tf from '@tensorflow/tfjs';
import {
  bindings,
  dispatch,
  f32,
  FLAT_GROUP,
  flatMain,
  grid,
  i32,
  release,
  size,
  threads,
  type Attrs,
  type Info,
  type Inputs,
  type KernelBody,
} from './dispatch.ts';
import { igAccumulateLocal, jacobianRows } from './attribution.ts';
import { jacobianPenalty } from './penalty.ts';
import { sortByLatent } from './sort.ts';

// ---------------------------------------------------------------------------------------------------------
// TopK of a row (SPEC §3.1): one workgroup per row. Each invocation keeps a sorted top-k of its strided share
// of the columns in private memory, then the lists are merged pairwise in workgroup memory (log₂ rounds).
// Order: value descending, lower index first among equal values — exactly the SIMD kernel's selection.
// ---------------------------------------------------------------------------------------------------------
function topkWorkgroup(k: number): number {
  let wg = 64;
  while (wg > 1 && wg * k * 8 > 16384) wg /= 2;
  return wg;
}

function topkCode(k: number, bias: boolean, relu: boolean): string {
  const W = topkWorkgroup(k);
  return `
${bindings(
  [
    ['idxOut', 'i32'],
    ['valOut', 'f32'],
  ],
  [['xw', 'f32'], ...(bias ? [['bEnc', 'f32'] as [string, 'f32']] : [])],
  [
    ['N', 'i32'],
    ['F', 'i32'],
  ],
)}
const K = ${k};
const W = ${W}u;
const NONE = 0x7fffffff;
var<workgroup> sv: array<f32, ${W * k}>;
var<workgroup> si: array<i32, ${W * k}>;
fn better(va: f32, ia: i32, vb: f32, ib: i32) -> bool { return va > vb || (va == vb && ia < ib); }
@compute @workgroup_size(${W})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = i32(${FLAT_GROUP});
  if (row >= u.N) { return; }
  var v: array<f32, K>;
  var ix: array<i32, K>;
  for (var j = 0; j < K; j++) { v[j] = -3.4e38; ix[j] = NONE; }
  let base = row * u.F;
  for (var c = i32(lid); c < u.F; c += i32(W)) {
    var x = xw[base + c]${bias ? ' + bEnc[c]' : ''};
    ${relu ? 'x = max(x, 0.0);' : ''}
    if (!better(x, c, v[K - 1], ix[K - 1])) { continue; }
    var p = K - 1;
    while (p > 0 && better(x, c, v[p - 1], ix[p - 1])) { v[p] = v[p - 1]; ix[p] = ix[p - 1]; p--; }
    v[p] = x; ix[p] = c;
  }
  let off = i32(lid) * K;
  for (var j = 0; j < K; j++) { sv[off + j] = v[j]; si[off + j] = ix[j]; }
  workgroupBarrier();
  for (var s = 1u; s < W; s *= 2u) {
    if (lid % (2u * s) == 0u) {
      let a = i32(lid) * K;
      let b = i32(lid + s) * K;
      var ia = 0; var ib = 0;
      for (var j = 0; j < K; j++) {
        if (better(sv[a + ia], si[a + ia], sv[b + ib], si[b + ib])) { v[j] = sv[a + ia]; ix[j] = si[a + ia]; ia++; }
        else { v[j] = sv[b + ib]; ix[j] = si[b + ib]; ib++; }
      }
      for (var j = 0; j < K; j++) { sv[a + j] = v[j]; si[a + j] = ix[j]; }
    }
    workgroupBarrier();
  }
  for (var j = i32(lid); j < K; j += i32(W)) {
    let i = si[j];
    // A row with fewer than k candidates (all −∞ / NaN) keeps valid indices 0…k−1, as the SIMD kernel does.
    idxOut[row * K + j] = select(i, j, i == NONE);
    valOut[row * K + j] = sv[j];
  }
}`;
}

// ---------------------------------------------------------------------------------------------------------
// Sparse decode: xhat[n] = b_dec + Σ_j val[n, j] W_dec[idx[n, j]]; err[n] = Σ_d (x − xhat)² (tree-reduced).
// ---------------------------------------------------------------------------------------------------------
function decodeCode(hasX: boolean): string {
  return `
${bindings(
  [
    ['xhat', 'f32'],
    ['err', 'f32'],
  ],
  [
    ['idx', 'i32'],
    ['val', 'f32'],
    ['wDec', 'f32'],
    ['bDec', 'f32'],
    ...(hasX ? [['x', 'f32'] as [string, 'f32']] : []),
  ],
  [
    ['N', 'i32'],
    ['K', 'i32'],
    ['D', 'i32'],
  ],
)}
var<workgroup> part: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let n = i32(${FLAT_GROUP});
  if (n >= u.N) { return; }
  var e = 0.0;
  for (var d = i32(lid); d < u.D; d += 64) {
    var o = bDec[d];
    for (var j = 0; j < u.K; j++) {
      let v = val[n * u.K + j];
      if (v == 0.0) { continue; }
      o += v * wDec[idx[n * u.K + j] * u.D + d];
    }
    xhat[n * u.D + d] = o;
    ${hasX ? 'let r = x[n * u.D + d] - o; e += r * r;' : ''}
  }
  part[lid] = e;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s /= 2u) {
    if (lid < s) { part[lid] += part[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { err[n] = part[0]; }
}`;
}

// ---------------------------------------------------------------------------------------------------------
// TopK SAE backward (simd/sae.ts topkSaeBackward), with e_n = 2·scale·(xhat_n − x_n):
//   dz[n, j]   = W_dec[i] · e_n where val > 0, else 0                         (one invocation per entry)
//   order      = entries sorted by (latent, entry): bitonic sort              (no atomics)
//   start[f]   = first position of latent f in order                         (binary search)
//   dW_dec[f]  = Σ_{entries of f, val>0} val · e_n;  dW_encᵀ[f] = Σ dz · (x_n − b_dec);  dB_enc[f] = Σ dz
//   dB_dec     = Σ_n e_n − Σ_{entries, val>0} dz · W_encᵀ[i]                  (fixed chunks, then in order)
// Latent rows below `detachBelow` get zero dW (their biases still learn).
// ---------------------------------------------------------------------------------------------------------
const E_OF = `fn e_of(n: i32, d: i32) -> f32 { return u.two * (xhat[n * u.D + d] - x[n * u.D + d]); }`;

const DZ_CODE = `
${bindings(
  [['dz', 'f32']],
  [
    ['idx', 'i32'],
    ['val', 'f32'],
    ['wDec', 'f32'],
    ['xhat', 'f32'],
    ['x', 'f32'],
  ],
  [
    ['NK', 'i32'],
    ['K', 'i32'],
    ['D', 'i32'],
    ['two', 'f32'],
  ],
)}
${E_OF}
${flatMain(`  if (gid >= u.NK) { return; }
  let v = val[gid];
  if (v <= 0.0) { dz[gid] = 0.0; return; }
  let n = gid / u.K;
  let row = idx[gid] * u.D;
  var s = 0.0;
  for (var d = 0; d < u.D; d++) { s += wDec[row + d] * e_of(n, d); }
  dz[gid] = s;`)}`;

const LATENT_GRADS_CODE = `
${bindings(
  [
    ['dWencT', 'f32'],
    ['dWdec', 'f32'],
    ['dBenc', 'f32'],
  ],
  [
    ['start', 'i32'],
    ['order', 'i32'],
    ['val', 'f32'],
    ['dz', 'f32'],
    ['xhat', 'f32'],
    ['x', 'f32'],
    ['bDec', 'f32'],
  ],
  [
    ['F', 'i32'],
    ['K', 'i32'],
    ['D', 'i32'],
    ['two', 'f32'],
    ['detachBelow', 'i32'],
  ],
)}
${E_OF}
${flatMain(`  // One invocation per (latent f, column d); column D stands for dB_enc[f].
  let f = gid / (u.D + 1);
  let d = gid % (u.D + 1);
  if (f >= u.F) { return; }
  let learn = f >= u.detachBelow;
  var gDec = 0.0; var gEnc = 0.0; var gB = 0.0;
  for (var p = start[f]; p < start[f + 1]; p++) {
    let e = order[p];
    let v = val[e];
    if (v <= 0.0) { continue; }
    let n = e / u.K;
    if (d == u.D) { gB += dz[e]; continue; }
    if (learn) {
      gDec += v * e_of(n, d);
      gEnc += dz[e] * (x[n * u.D + d] - bDec[d]);
    }
  }
  if (d == u.D) { dBenc[f] = gB; return; }
  dWdec[f * u.D + d] = gDec;
  dWencT[f * u.D + d] = gEnc;`)}`;

/** dB_dec partial sums over fixed chunks of CHUNK tokens, one invocation per (chunk, column). */
const BDEC_CHUNK = 256;
const BDEC_PART_CODE = `
${bindings(
  [['part', 'f32']],
  [
    ['idx', 'i32'],
    ['val', 'f32'],
    ['dz', 'f32'],
    ['wEncT', 'f32'],
    ['xhat', 'f32'],
    ['x', 'f32'],
  ],
  [
    ['N', 'i32'],
    ['K', 'i32'],
    ['D', 'i32'],
    ['two', 'f32'],
  ],
)}
${E_OF}
${flatMain(`  let c = gid / u.D;
  let d = gid % u.D;
  let n0 = c * ${BDEC_CHUNK};
  if (n0 >= u.N) { return; }
  var s = 0.0;
  for (var n = n0; n < min(n0 + ${BDEC_CHUNK}, u.N); n++) {
    for (var j = 0; j < u.K; j++) {
      let q = n * u.K + j;
      if (val[q] <= 0.0) { continue; }
      s -= dz[q] * wEncT[idx[q] * u.D + d];
    }
    s += e_of(n, d);
  }
  part[gid] = s;`)}`;

const BDEC_SUM_CODE = `
${bindings(
  [['dBdec', 'f32']],
  [['part', 'f32']],
  [
    ['C', 'i32'],
    ['D', 'i32'],
  ],
)}
${flatMain(`  if (gid >= u.D) { return; }
  var s = 0.0;
  for (var c = 0; c < u.C; c++) { s += part[c * u.D + gid]; }
  dBdec[gid] = s;`)}`;

function topkSaeBackward(backend: tf.KernelBackend, inp: Inputs, a: Attrs): Info[] {
  const { x, bDec, idx, val, xhat, wDec, wEncT } = inp;
  const [N, K] = idx.shape;
  const [F, D] = wDec.shape;
  const NK = N * K;
  const two = 2 * a.scale;
  const [dz] = dispatch(backend, {
    label: 'sae-dz',
    code: DZ_CODE,
    outputs: [{ shape: [NK] }],
    inputs: [idx, val, wDec, xhat, x],
    uniforms: [i32(NK), i32(K), i32(D), f32(two)],
    groups: threads(NK),
  });
  const { order, start } = sortByLatent(backend, idx, 0, NK, F);
  const [dWencT, dWdec, dBenc] = dispatch(backend, {
    label: 'sae-latent-grads',
    code: LATENT_GRADS_CODE,
    outputs: [{ shape: [F, D] }, { shape: [F, D] }, { shape: [F] }],
    inputs: [start, order, val, dz, xhat, x, bDec],
    uniforms: [i32(F), i32(K), i32(D), f32(two), i32(a.detachBelow)],
    groups: threads(F * (D + 1)),
  });
  const C = Math.ceil(N / BDEC_CHUNK);
  const [part] = dispatch(backend, {
    label: 'sae-bdec-part',
    code: BDEC_PART_CODE,
    outputs: [{ shape: [C, D] }],
    inputs: [idx, val, dz, wEncT, xhat, x],
    uniforms: [i32(N), i32(K), i32(D), f32(two)],
    groups: threads(C * D),
  });
  const [dBdec] = dispatch(backend, {
    label: 'sae-bdec-sum',
    code: BDEC_SUM_CODE,
    outputs: [{ shape: [D] }],
    inputs: [part],
    uniforms: [i32(C), i32(D)],
    groups: threads(D),
  });
  release(backend, dz, order, start, part);
  return [dWencT, dBenc, dWdec, dBdec];
}

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

// ---------------------------------------------------------------------------------------------------------
// Causal attention on the fused layout qkv [B, T, 3D] (simd/attention.ts): out [B, T, D] and
// stats [B, H, T, 2] = (row max, 1 / row sum). One invocation per (b, h, query row), two passes over the keys
// (max, then exp-sum with the value accumulation), the head's output in registers.
// Backward: Δ_t = dO_t·O_t; ds = P ⊙ (dO·Vᵀ − Δ); dQ = scale·ds·K (per query row);
// dK = scale·dsᵀ·Q and dV = Pᵀ·dO (per key row, over the queries t ≥ s).
// ---------------------------------------------------------------------------------------------------------
const ATTN_HEAD = (hd: number) => `
const HD = ${hd};
fn qkvAt(b: i32, t: i32, part: i32, h: i32) -> i32 { return (b * u.T + t) * 3 * u.D + part * u.D + h * HD; }`;

function attnForwardCode(hd: number): string {
  return `
${bindings(
  [
    ['o', 'f32'],
    ['stats', 'f32'],
  ],
  [['qkv', 'f32']],
  [
    ['B', 'i32'],
    ['T', 'i32'],
    ['H', 'i32'],
    ['D', 'i32'],
    ['scale', 'f32'],
  ],
)}
${ATTN_HEAD(hd)}
${flatMain(`  if (gid >= u.B * u.H * u.T) { return; }
  let t = gid % u.T;
  let h = (gid / u.T) % u.H;
  let b = gid / (u.T * u.H);
  let q = qkvAt(b, t, 0, h);
  var mx = -3.4e38;
  for (var s = 0; s <= t; s++) {
    let k = qkvAt(b, s, 1, h);
    var dot = 0.0;
    for (var c = 0; c < HD; c++) { dot += qkv[q + c] * qkv[k + c]; }
    mx = max(mx, dot * u.scale);
  }
  var acc: array<f32, HD>;
  for (var c = 0; c < HD; c++) { acc[c] = 0.0; }
  var sum = 0.0;
  for (var s = 0; s <= t; s++) {
    let k = qkvAt(b, s, 1, h);
    var dot = 0.0;
    for (var c = 0; c < HD; c++) { dot += qkv[q + c] * qkv[k + c]; }
    let e = exp(dot * u.scale - mx);
    sum += e;
    let vv = qkvAt(b, s, 2, h);
    for (var c = 0; c < HD; c++) { acc[c] += e * qkv[vv + c]; }
  }
  let inv = 1.0 / sum;
  let out = (b * u.T + t) * u.D + h * HD;
  for (var c = 0; c < HD; c++) { o[out + c] = acc[c] * inv; }
  let st = ((b * u.H + h) * u.T + t) * 2;
  stats[st] = mx;
  stats[st + 1] = inv;`)}`;
}

function attnDeltaCode(hd: number): string {
  return `
${bindings(
  [['delta', 'f32']],
  [
    ['o', 'f32'],
    ['dout', 'f32'],
  ],
  [
    ['B', 'i32'],
    ['T', 'i32'],
    ['H', 'i32'],
    ['D', 'i32'],
  ],
)}
const HD = ${hd};
${flatMain(`  if (gid >= u.B * u.H * u.T) { return; }
  let t = gid % u.T;
  let h = (gid / u.T) % u.H;
  let b = gid / (u.T * u.H);
  let r = (b * u.T + t) * u.D + h * HD;
  var s = 0.0;
  for (var c = 0; c < HD; c++) { s += dout[r + c] * o[r + c]; }
  delta[gid] = s;`)}`;
}

/** P and dS of (query t, key s) for head h of sequence b, rebuilt from the forward's stats. */
const ATTN_P_DS = `
fn score(b: i32, h: i32, t: i32, s: i32) -> f32 {
  let q = qkvAt(b, t, 0, h); let k = qkvAt(b, s, 1, h);
  var dot = 0.0;
  for (var c = 0; c < HD; c++) { dot += qkv[q + c] * qkv[k + c]; }
  return dot * u.scale;
}
fn pAt(b: i32, h: i32, t: i32, s: i32) -> f32 {
  let st = ((b * u.H + h) * u.T + t) * 2;
  return exp(score(b, h, t, s) - stats[st]) * stats[st + 1];
}
fn dsAt(b: i32, h: i32, t: i32, s: i32, p: f32) -> f32 {
  let r = (b * u.T + t) * u.D + h * HD; let v = qkvAt(b, s, 2, h);
  var dv = 0.0;
  for (var c = 0; c < HD; c++) { dv += dout[r + c] * qkv[v + c]; }
  return p * (dv - delta[(b * u.H + h) * u.T + t]);
}`;

function attnDqCode(hd: number): string {
  return `
${bindings(
  [['dqkv', 'f32']],
  [
    ['qkv', 'f32'],
    ['stats', 'f32'],
    ['dout', 'f32'],
    ['delta', 'f32'],
  ],
  [
    ['B', 'i32'],
    ['T', 'i32'],
    ['H', 'i32'],
    ['D', 'i32'],
    ['scale', 'f32'],
  ],
)}
${ATTN_HEAD(hd)}
${ATTN_P_DS}
${flatMain(`  if (gid >= u.B * u.H * u.T) { return; }
  let t = gid % u.T;
  let h = (gid / u.T) % u.H;
  let b = gid / (u.T * u.H);
  var acc: array<f32, HD>;
  for (var c = 0; c < HD; c++) { acc[c] = 0.0; }
  for (var s = 0; s <= t; s++) {
    let ds = dsAt(b, h, t, s, pAt(b, h, t, s));
    let k = qkvAt(b, s, 1, h);
    for (var c = 0; c < HD; c++) { acc[c] += ds * qkv[k + c]; }
  }
  let dq = qkvAt(b, t, 0, h);
  for (var c = 0; c < HD; c++) { dqkv[dq + c] = u.scale * acc[c]; }`)}`;
}

function attnDkvCode(hd: number): string {
  return `
${bindings(
  [['dqkv', 'f32']],
  [
    ['qkv', 'f32'],
    ['stats', 'f32'],
    ['dout', 'f32'],
    ['delta', 'f32'],
  ],
  [
    ['B', 'i32'],
    ['T', 'i32'],
    ['H', 'i32'],
    ['D', 'i32'],
    ['scale', 'f32'],
  ],
)}
${ATTN_HEAD(hd)}
${ATTN_P_DS}
${flatMain(`  if (gid >= u.B * u.H * u.T) { return; }
  let s = gid % u.T;
  let h = (gid / u.T) % u.H;
  let b = gid / (u.T * u.H);
  var gk: array<f32, HD>;
  var gv: array<f32, HD>;
  for (var c = 0; c < HD; c++) { gk[c] = 0.0; gv[c] = 0.0; }
  for (var t = s; t < u.T; t++) {
    let p = pAt(b, h, t, s);
    let ds = dsAt(b, h, t, s, p);
    let q = qkvAt(b, t, 0, h);
    let r = (b * u.T + t) * u.D + h * HD;
    for (var c = 0; c < HD; c++) { gk[c] += ds * qkv[q + c]; gv[c] += p * dout[r + c]; }
  }
  let dk = qkvAt(b, s, 1, h);
  let dv = qkvAt(b, s, 2, h);
  for (var c = 0; c < HD; c++) { dqkv[dk + c] = u.scale * gk[c]; dqkv[dv + c] = gv[c]; }`)}`;
}

// ---------------------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------------------
const kernels: Record<string, KernelBody> = {
  ScalarTopK(backend, { xw, bEnc }, { topk, relu }) {
    const [N, F] = xw.shape;
    return dispatch(backend, {
      label: 'topk',
      code: topkCode(topk, bEnc !== undefined, (relu ?? 1) !== 0),
      outputs: [
        { shape: [N, topk], dtype: 'int32' },
        { shape: [N, topk], dtype: 'float32' },
      ],
      inputs: bEnc ? [xw, bEnc] : [xw],
      uniforms: [i32(N), i32(F)],
      groups: grid(N),
    });
  },
  ScalarSparseDecode(backend, { idx, val, wDec, bDec, x }) {
    const [N, K] = idx.shape;
    const D = wDec.shape[1];
    return dispatch(backend, {
      label: 'sparse-decode',
      code: decodeCode(x !== undefined),
      outputs: [{ shape: [N, D] }, { shape: [N] }],
      inputs: x ? [idx, val, wDec, bDec, x] : [idx, val, wDec, bDec],
      uniforms: [i32(N), i32(K), i32(D)],
      groups: grid(N),
    });
  },
  ScalarTopKSaeBackward: topkSaeBackward,
  ScalarJacobianPenalty: jacobianPenalty,
  ScalarJacobianRows: jacobianRows,
  ScalarIgAccumulateLocal: igAccumulateLocal,
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
  ScalarAttention(backend, { qkv }, { nHead }) {
    const [B, T, D3] = qkv.shape;
    const D = D3 / 3;
    const hd = D / nHead;
    return dispatch(backend, {
      label: 'attention',
      code: attnForwardCode(hd),
      outputs: [{ shape: [B, T, D] }, { shape: [B, nHead, T, 2] }],
      inputs: [qkv],
      uniforms: [i32(B), i32(T), i32(nHead), i32(D), f32(1 / Math.sqrt(hd))],
      groups: threads(B * nHead * T),
    });
  },
  ScalarAttentionGrad(backend, { qkv, out, stats, dy }, { nHead }) {
    const [B, T, D3] = qkv.shape;
    const D = D3 / 3;
    const hd = D / nHead;
    const dims = [i32(B), i32(T), i32(nHead), i32(D)];
    const [delta] = dispatch(backend, {
      label: 'attention-delta',
      code: attnDeltaCode(hd),
      outputs: [{ shape: [B, nHead, T] }],
      inputs: [out, dy],
      uniforms: dims,
      groups: threads(B * nHead * T),
    });
    const scale = f32(1 / Math.sqrt(hd));
    const [dqkv] = dispatch(backend, {
      label: 'attention-dq',
      code: attnDqCode(hd),
      outputs: [{ shape: [B, T, D3] }],
      inputs: [qkv, stats, dy, delta],
      uniforms: [...dims, scale],
      groups: threads(B * nHead * T),
    });
    dispatch(backend, {
      label: 'attention-dkv',
      code: attnDkvCode(hd),
      outputs: [dqkv],
      inputs: [qkv, stats, dy, delta],
      uniforms: [...dims, scale],
      groups: threads(B * nHead * T),
    });
    release(backend, delta);
    return dqkv;
  },
};

/** The kernels with a WGSL twin (the rest take the composite tfjs formulation on webgpu). */
export const WGSL_KERNELS = Object.keys(kernels);

let registered = false;

/** Registers every WGSL kernel for the `webgpu` backend (once per process). */
export function registerWgslKernels(): void {
  if (registered) return;
  registered = true;
  for (const [kernelName, body] of Object.entries(kernels)) {
    tf.registerKernel({
      kernelName,
      backendName: 'webgpu',
      kernelFunc: ({ inputs, backend, attrs }) =>
        body(backend as tf.KernelBackend, inputs as Inputs, (attrs ?? {}) as Attrs) as tf.TensorInfo,
    });
  }
}
