/**
 * WGSL twins of the TopK SAE kernels (simd/sae.ts): the fused TopK select, the sparse decode and the TopK SAE
 * backward, whose scatter into latent rows is a gather over entries sorted by latent (sort.ts).
 */
import type * as tf from '@tensorflow/tfjs';
import {
  bindings,
  dispatch,
  f32,
  FLAT_GROUP,
  flatMain,
  grid,
  i32,
  release,
  threads,
  type Attrs,
  type Info,
  type Inputs,
  type KernelBody,
} from './dispatch.ts';
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

export const saeKernels: Record<string, KernelBody> = {
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
};
