/** WGSL twins of causal attention forward and backward (simd/attention.ts) on the fused qkv layout. */
import { bindings, dispatch, f32, flatMain, i32, release, threads, type KernelBody } from './dispatch.ts';

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

export const attentionKernels: Record<string, KernelBody> = {
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
