/**
 * WGSL twin of SCALAR's IG accumulation through a transformer block (ScalarIgAccumulateBlock, simd/attribution.ts
 * `igAccumulateBlock`, SPEC §4.2 tblock): same inputs, attributes, output and layout.
 *
 * The SIMD kernel backpropagates each seed (t′, j) on its own and scatters into per-slot rows. Here the seeds of one
 * downstream latent j at one point s in one sequence b form one "virtual row" w = (s, b, j) (the seed is the one-hot
 * on j at every position where j is active), and each virtual row is an ordinary attention backward:
 *   dO(t) = W_o ρ(t) at seed positions (0 elsewhere)
 *   dq(t) = Σ_{s′≤t} ds(t, s′) k(s′)          (t a seed position)
 *   dk(t) = Σ_{t′≥t} ds(t′, t) q(t′),  dv(t) = Σ_{t′≥t} p(t′, t) dO(t′)   (causal: only later seeds reach t)
 *   dLN(t) = W_qkv · [dq, dk, dv](t),  v_j(t) = Σ_s J_LN1(s, t)ᵀ dLN(t) + ρ(t)
 * then M_j += c² v vᵀ (reference) or A²[i, j] += (W_dec₀[i]·v · z₀ᵢ/S)² (textbook), each output element summing
 * sequences and tokens in order (a running sum across chunks), as igAccumulateLocal does. No atomics: every output
 * element is written by one invocation in a fixed order, so results are bit-identical run to run and across chunk
 * sizes (v does not depend on the chunking; the sums continue in the same order).
 *
 * Chunks: sequences [b0, b0 + Bc) × downstream latents [j0, j0 + Jc), sized so the largest intermediate
 * (dqkv, S·Bc·Jc·T·3D floats) stays ≤ 64 MiB. Virtual rows of latents inactive in a sequence cost a bounds check
 * per invocation (no compaction: that would need the count of active latents on the host, i.e. a read-back).
 */
import type * as tf from '@tensorflow/tfjs';
import {
  alloc,
  f32,
  i32,
  release,
  runStage,
  stageCode,
  type Attrs,
  type Binding,
  type Info,
  type Inputs,
} from './dispatch.ts';
import { sortByLatent } from './sort.ts';

const F = (n: string): Binding => [n, 'f32'];
const I = (n: string): Binding => [n, 'i32'];

const UNIFORMS: Binding[] = [
  I('n'),
  I('S'),
  I('B'),
  I('T'),
  I('H'),
  I('D'),
  I('K'),
  I('K0'),
  I('F0'),
  I('F1'),
  I('b0'),
  I('Bc'),
  I('j0'),
  I('Jc'),
  I('first'),
  F('scale'),
  F('invS'),
];
/** Virtual row w = (s·Bc + bl)·Jc + jl: its point, its sequence (as an index s·B + b into the per-point inputs). */
const HEADER = `
fn pointOf(w: i32) -> i32 { return w / (u.Bc * u.Jc); }
fn seqOf(w: i32) -> i32 { return pointOf(w) * u.B + u.b0 + (w / u.Jc) % u.Bc; }`;
/** Whether latent j0 + jl has a seed anywhere in sequence b0 + bl at any point (stages bound to reach). */
const ACTIVE = `
fn isActive(bl: i32, jl: i32) -> bool {
  for (var s = 0; s < u.S; s++) { if (reach[(s * u.Bc + bl) * u.Jc + jl] >= 0) { return true; } }
  return false;
}`;
const stage = (outs: Binding[], ins: Binding[], body: string, hd = 0) =>
  stageCode(
    UNIFORMS,
    `const HD = ${hd};${HEADER}${ins.some((b) => b[0] === 'reach') ? ACTIVE : ''}`,
    outs,
    ins,
    body,
  );

/** seed[w, t] = the (point, token, slot) entry where latent j is active at t, or −1. TopK latents are distinct. */
const SEED_CODE = stage(
  [I('seed')],
  [I('idx1'), F('val1')],
  `
  let w = gid / u.T; let t = gid % u.T;
  let sb = seqOf(w);
  let j = u.j0 + w % u.Jc;
  let base = (sb * u.T + t) * u.K;
  var at = -1;
  for (var q = 0; q < u.K; q++) { if (val1[base + q] > 0.0 && idx1[base + q] == j) { at = base + q; } }
  seed[gid] = at;`,
);

/** reach[w] = the last seed position of the virtual row (−1: none); nothing flows to later positions. */
const REACH_CODE = stage(
  [I('reach')],
  [I('seed')],
  `
  var r = -1;
  for (var t = 0; t < u.T; t++) { if (seed[gid * u.T + t] >= 0) { r = t; } }
  reach[gid] = r;`,
);

const DO_CODE = stage(
  [F('dO')],
  [I('seed'), F('rows'), F('wO')],
  `
  let e = gid / u.D; let c = gid % u.D;
  let at = seed[e];
  if (at < 0) { dO[gid] = 0.0; return; }
  var s = 0.0;
  for (var d = 0; d < u.D; d++) { s += wO[c * u.D + d] * rows[at * u.D + d]; }
  dO[gid] = s;`,
);

/** One invocation per (w, t, head): dq, dk, dv of that head at t (HD columns each). */
const dqkvCode = (hd: number) =>
  stage(
    [F('dqkv')],
    [I('reach'), I('seed'), F('dO'), F('qkv'), F('stats'), F('attnO')],
    `
  let w = gid / (u.T * u.H); let t = (gid / u.H) % u.T; let h = gid % u.H;
  let out = (w * u.T + t) * 3 * u.D + h * HD;
  var aq: array<f32, HD>; var ak: array<f32, HD>; var av: array<f32, HD>;
  let sb = seqOf(w);
  let D3 = 3 * u.D;
  let last = reach[w];
  if (t <= last) {
    if (seed[w * u.T + t] >= 0) {
      let st = ((sb * u.H + h) * u.T + t) * 2;
      let dq0 = (w * u.T + t) * u.D + h * HD;
      let q0 = (sb * u.T + t) * D3 + h * HD;
      var delta = 0.0;
      for (var c = 0; c < HD; c++) { delta += dO[dq0 + c] * attnO[(sb * u.T + t) * u.D + h * HD + c]; }
      for (var s2 = 0; s2 <= t; s2++) {
        let k0 = (sb * u.T + s2) * D3 + u.D + h * HD;
        var qk = 0.0; var dp = 0.0;
        for (var c = 0; c < HD; c++) { qk += qkv[q0 + c] * qkv[k0 + c]; dp += dO[dq0 + c] * qkv[k0 + u.D + c]; }
        let p = exp(qk * u.scale - stats[st]) * stats[st + 1];
        let ds = p * (dp - delta) * u.scale;
        for (var c = 0; c < HD; c++) { aq[c] += ds * qkv[k0 + c]; }
      }
    }
    let k0 = (sb * u.T + t) * D3 + u.D + h * HD;
    for (var t2 = t; t2 <= last; t2++) {
      if (seed[w * u.T + t2] < 0) { continue; }
      let st = ((sb * u.H + h) * u.T + t2) * 2;
      let d2 = (w * u.T + t2) * u.D + h * HD;
      let q2 = (sb * u.T + t2) * D3 + h * HD;
      var delta = 0.0; var qk = 0.0; var dp = 0.0;
      for (var c = 0; c < HD; c++) {
        delta += dO[d2 + c] * attnO[(sb * u.T + t2) * u.D + h * HD + c];
        qk += qkv[q2 + c] * qkv[k0 + c];
        dp += dO[d2 + c] * qkv[k0 + u.D + c];
      }
      let p = exp(qk * u.scale - stats[st]) * stats[st + 1];
      let ds = p * (dp - delta) * u.scale;
      for (var c = 0; c < HD; c++) { ak[c] += ds * qkv[q2 + c]; av[c] += p * dO[d2 + c]; }
    }
  }
  for (var c = 0; c < HD; c++) { dqkv[out + c] = aq[c]; dqkv[out + u.D + c] = ak[c]; dqkv[out + 2 * u.D + c] = av[c]; }`,
    hd,
  );

/** dLN(t) = W_qkv [dq, dk, dv](t) (W_qkv is [D, 3D], in → out). */
const DLN_CODE = stage(
  [F('dLN')],
  [I('reach'), F('dqkv'), F('wQkv')],
  `
  let e = gid / u.D; let a = gid % u.D;
  if (e % u.T > reach[e / u.T]) { dLN[gid] = 0.0; return; }
  var s = 0.0;
  for (var c = 0; c < 3 * u.D; c++) { s += wQkv[a * 3 * u.D + c] * dqkv[e * 3 * u.D + c]; }
  dLN[gid] = s;`,
);

/** LayerNorm 1: mean(w′) and ŷ·w′/D of w′ = γ ⊙ dLN(t), per (w, t). */
const AUX_CODE = stage(
  [F('aux')],
  [I('reach'), F('dLN'), F('gamma1'), F('yhat1')],
  `
  let w = gid / u.T; let t = gid % u.T;
  var mean = 0.0; var proj = 0.0;
  if (t <= reach[w]) {
    let y0 = (seqOf(w) * u.T + t) * u.D;
    for (var c = 0; c < u.D; c++) {
      let x = dLN[gid * u.D + c] * gamma1[c];
      mean += x; proj += x * yhat1[y0 + c];
    }
  }
  aux[2 * gid] = mean / f32(u.D); aux[2 * gid + 1] = proj / f32(u.D);`,
);

/** v[bl, jl, t] = Σ_s (J_LN1(s, t)ᵀ dLN(t) + ρ(t) where seeded), points in order. */
const V_CODE = stage(
  [F('v')],
  [I('reach'), I('seed'), F('dLN'), F('aux'), F('gamma1'), F('yhat1'), F('rstd1'), F('rows')],
  `
  let r = gid / (u.T * u.D); let t = (gid / u.D) % u.T; let a = gid % u.D;
  let bl = r / u.Jc; let jl = r % u.Jc;
  var acc = 0.0;
  for (var s = 0; s < u.S; s++) {
    let w = (s * u.Bc + bl) * u.Jc + jl;
    if (t > reach[w]) { continue; }
    let e = w * u.T + t;
    let n = seqOf(w) * u.T + t;
    let x = dLN[e * u.D + a] * gamma1[a];
    acc += (x - aux[2 * e] - aux[2 * e + 1] * yhat1[n * u.D + a]) * rstd1[n];
    if (seed[e] >= 0) { acc += rows[seed[e] * u.D + a]; }
  }
  v[gid] = acc;`,
);

/** Reference: M_j[a, b] (b ≥ a; 0 below, as finishAttribution reads) += Σ_{b, t} c² v_a v_b, running across chunks. */
const M_CODE = stage(
  [F('out')],
  [I('reach'), F('v'), F('c')],
  `
  let jl = gid / (u.D * u.D); let a = (gid / u.D) % u.D; let b = gid % u.D;
  let o = (u.j0 + jl) * u.D * u.D + a * u.D + b;
  if (b < a) { out[o] = 0.0; return; }
  var s = select(out[o], 0.0, u.first != 0);
  for (var bl = 0; bl < u.Bc; bl++) {
    if (!isActive(bl, jl)) { continue; }
    for (var t = 0; t < u.T; t++) {
      let cn = c[(u.b0 + bl) * u.T + t];
      let v0 = ((bl * u.Jc + jl) * u.T + t) * u.D;
      s += (cn * cn * v[v0 + a]) * v[v0 + b];
    }
  }
  out[o] = s;`,
);

/** Textbook: the chunk's active upstream entries keyed by latent i (F0 for inactive ones: sorted last). */
const KEY0_CODE = stage(
  [I('key0')],
  [I('idx0'), F('val0')],
  `
  let e = u.b0 * u.T * u.K0 + gid;
  key0[gid] = select(u.F0, idx0[e], val0[e] > 0.0);`,
);

/** Textbook: A²[i, j] += Σ over the tokens where i is active (in order) of (W_dec₀[i]·v_j · z₀ᵢ/S)². */
const A2_CODE = stage(
  [F('out')],
  [I('reach'), I('start'), I('order'), F('v'), F('val0'), F('wDec0')],
  `
  let i = gid / u.Jc; let jl = gid % u.Jc;
  let o = i * u.F1 + u.j0 + jl;
  var s = select(out[o], 0.0, u.first != 0);
  for (var p = start[i]; p < start[i + 1]; p++) {
    let e = order[p];
    let nl = e / u.K0; let bl = nl / u.T; let t = nl % u.T;
    if (!isActive(bl, jl)) { continue; }
    let v0 = ((bl * u.Jc + jl) * u.T + t) * u.D;
    var dd = 0.0;
    for (var d = 0; d < u.D; d++) { dd += wDec0[i * u.D + d] * v[v0 + d]; }
    let x = dd * val0[u.b0 * u.T * u.K0 + e] * u.invS;
    s += x * x;
  }
  out[o] = s;`,
);

/** Per-chunk intermediates stay under this many floats (64 MiB each). */
const CHUNK_FLOATS = 1 << 24;

export function igAccumulateBlock(backend: tf.KernelBackend, inp: Inputs, attrs: Attrs): Info {
  const { qkv, stats, attnO, yhat1, rstd1, gamma1, wO, wQkv, idx1, val1, rows, c, idx0, val0, wDec0 } = inp;
  const { textbook, f1, nHead } = attrs;
  const [S, B, T, K] = idx1.shape;
  const [F0, D] = wDec0.shape;
  const K0 = idx0.shape[1];
  const hd = D / nHead;
  // Virtual rows per chunk: the largest intermediate is dqkv, T·3D floats per row.
  const rowsMax = Math.max(S, Math.floor(CHUNK_FLOATS / (T * 3 * D)));
  let Jc = Math.max(1, Math.min(f1, Math.floor(rowsMax / S)));
  let Bc = Math.max(1, Math.min(B, Math.floor(rowsMax / (S * Jc))));
  // chunkSeqs / chunkLatents (tests) force smaller chunks; the SIMD twin ignores them.
  if (attrs.chunkSeqs) Bc = Math.min(B, attrs.chunkSeqs);
  if (attrs.chunkLatents) Jc = Math.min(f1, attrs.chunkLatents);
  const out = alloc(backend, textbook ? [F0, f1] : [f1, D, D]);
  const dqkvCodeHd = dqkvCode(hd);
  for (let b0 = 0; b0 < B; b0 += Bc) {
    const bc = Math.min(Bc, B - b0);
    const first = b0 === 0 ? 1 : 0;
    let byI: { order: Info; start: Info } | null = null;
    let key0: Info | null = null;
    for (let j0 = 0; j0 < f1; j0 += Jc) {
      const jc = Math.min(Jc, f1 - j0);
      const uni = [S, B, T, nHead, D, K, K0, F0, f1, b0, bc, j0, jc, first].map(i32);
      const run = (
        label: string,
        code: string,
        outs: ({ shape: number[]; dtype?: 'int32' } | Info)[],
        ins: Info[],
        n: number,
      ) =>
        runStage(backend, `igb-${label}`, code, outs, ins, n, [...uni, f32(1 / Math.sqrt(hd)), f32(1 / S)]);
      if (textbook && !key0) {
        // Upstream entries of this chunk's tokens, grouped by latent once for all latent ranges.
        [key0] = run(
          'key0',
          KEY0_CODE,
          [{ shape: [bc * T * K0], dtype: 'int32' }],
          [idx0, val0],
          bc * T * K0,
        );
        byI = sortByLatent(backend, key0, 0, bc * T * K0, F0);
      }
      const W = S * bc * jc;
      const [seed] = run('seed', SEED_CODE, [{ shape: [W * T], dtype: 'int32' }], [idx1, val1], W * T);
      const [reach] = run('reach', REACH_CODE, [{ shape: [W], dtype: 'int32' }], [seed], W);
      const [dO] = run('do', DO_CODE, [{ shape: [W * T * D] }], [seed, rows, wO], W * T * D);
      const dqkvIns = [reach, seed, dO, qkv, stats, attnO];
      const [dqkv] = run('dqkv', dqkvCodeHd, [{ shape: [W * T * 3 * D] }], dqkvIns, W * T * nHead);
      const [dLN] = run('dln', DLN_CODE, [{ shape: [W * T * D] }], [reach, dqkv, wQkv], W * T * D);
      const [aux] = run('aux', AUX_CODE, [{ shape: [W * T * 2] }], [reach, dLN, gamma1, yhat1], W * T);
      const vIns = [reach, seed, dLN, aux, gamma1, yhat1, rstd1, rows];
      const [v] = run('v', V_CODE, [{ shape: [bc * jc * T * D] }], vIns, bc * jc * T * D);
      if (!textbook) run('m', M_CODE, [out], [reach, v, c], jc * D * D);
      else run('a2', A2_CODE, [out], [reach, byI!.start, byI!.order, v, val0, wDec0], F0 * jc);
      release(backend, seed, reach, dO, dqkv, dLN, aux, v);
    }
    if (key0) release(backend, key0, byI!.start, byI!.order);
  }
  return out;
}
