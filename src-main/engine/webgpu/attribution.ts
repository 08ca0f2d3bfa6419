/**
 * WGSL twins of SCALAR's attribution kernels (simd/attribution.ts, SPEC §4.2) for position-local segments:
 * the Jacobian rows of the active downstream latents (ScalarJacobianRows) and the integrated-gradient
 * accumulation (ScalarIgAccumulateLocal), with the SIMD kernels' inputs, attributes, outputs and layouts.
 * The transformer block's accumulation (ScalarIgAccumulateBlock) is in attributionBlock.ts.
 *
 * The accumulation scatters into M_j [D, D] (reference scaling) or A²[i, j] (textbook) per token; here it is a
 * gather: each token's distinct active latents (the first (point, slot) where each occurs; "canonical"
 * entries) are sorted by latent (sort.ts), and each output element sums its entries in token order, as the SIMD
 * kernel adds. Tokens go in chunks (bounded intermediates) whose sums add in order. No atomics: deterministic.
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
  type Dispatch,
  type Info,
  type Inputs,
} from './dispatch.ts';
import { sortByLatent } from './sort.ts';

// The transformer block's accumulation lives beside it (file size); kernels.ts imports both from here.
export { igAccumulateBlock } from './attributionBlock.ts';

const F = (n: string): Binding => [n, 'f32'];
const I = (n: string): Binding => [n, 'i32'];

// ---------------------------------------------------------------------------------------------------------
// Jacobian rows: rows[n, slot] = W_fc (g_n ⊙ C[:, j]) (mode 0), then ⊙ s (DyT) or through LN's transposed
// rank-1 Jacobian (w = γ ⊙ row; (w − mean(w) − ŷ·(ŷ·w)/D)/σ), plus the skip row W_enc₁[:, j] (modes 1–2).
// ---------------------------------------------------------------------------------------------------------
const ROWS_UNIFORMS: Binding[] = [I('n'), I('K'), I('D'), I('M')];
const rowsStage = (outs: Binding[], ins: Binding[], body: string) =>
  stageCode(ROWS_UNIFORMS, '', outs, ins, body);

const rowsCode = (mode: number) =>
  rowsStage(
    [F('rows')],
    [I('idx1'), F('val1'), F('g'), F('cT'), F('wFc'), ...(mode === 1 ? [F('norm'), F('wEncT')] : [])],
    `
  let e = gid / u.D; let a = gid % u.D; let n = e / u.K;
  if (val1[e] <= 0.0) { rows[gid] = 0.0; return; }
  let j = idx1[e];
  var s = 0.0;
  for (var m = 0; m < u.M; m++) { s += wFc[a * u.M + m] * (g[n * u.M + m] * cT[j * u.M + m]); }
  ${mode === 1 ? 's = s * norm[n * u.D + a] + wEncT[j * u.D + a];' : ''}
  rows[gid] = s;`,
  );

/** LayerNorm: mean(w) and ŷ·w/D of w = γ ⊙ row, per (token, slot). */
const LN_AUX_CODE = rowsStage(
  [F('aux')],
  [F('rows'), F('gamma'), F('norm')],
  `
  let n = gid / u.K;
  var mean = 0.0; var proj = 0.0;
  for (var c = 0; c < u.D; c++) {
    let x = rows[gid * u.D + c] * gamma[c];
    mean += x; proj += x * norm[n * u.D + c];
  }
  aux[2 * gid] = mean / f32(u.D); aux[2 * gid + 1] = proj / f32(u.D);`,
);

const LN_APPLY_CODE = rowsStage(
  [F('rows')],
  [F('val1'), I('idx1'), F('aux'), F('gamma'), F('norm'), F('rstd'), F('wEncT')],
  `
  let e = gid / u.D; let a = gid % u.D; let n = e / u.K;
  if (val1[e] <= 0.0) { return; }
  let x = rows[gid] * gamma[a];
  let r = (x - aux[2 * e] - aux[2 * e + 1] * norm[n * u.D + a]) * rstd[n];
  rows[gid] = r + wEncT[idx1[e] * u.D + a];`,
);

const rowsCodes = [0, 1, 2].map(rowsCode);

export function jacobianRows(backend: tf.KernelBackend, inp: Inputs, { mode }: Attrs): Info {
  const { idx1, val1, g, norm, rstd, gamma, cT, wFc, wEncT } = inp;
  const [N, K] = idx1.shape;
  const [D, M] = wFc.shape;
  const dims = [i32(K), i32(D), i32(M)];
  const ins = [idx1, val1, g, cT, wFc, ...(mode === 1 ? [norm, wEncT] : [])];
  const [rows] = runStage(backend, 'jrows', rowsCodes[mode], [{ shape: [N, K, D] }], ins, N * K * D, dims);
  if (mode === 2) {
    const [aux] = runStage(
      backend,
      'jrows-ln-aux',
      LN_AUX_CODE,
      [{ shape: [N * K * 2] }],
      [rows, gamma, norm],
      N * K,
      dims,
    );
    const lnIns = [val1, idx1, aux, gamma, norm, rstd, wEncT];
    runStage(backend, 'jrows-ln', LN_APPLY_CODE, [rows], lnIns, N * K * D, dims);
    release(backend, aux);
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------------
// IG accumulation, position-local segments. Entries of a chunk are numbered token-major: e ↦ token n0 + e/(S·k1),
// point s, slot; at = (s·N + n)·k1 + slot indexes idx1 / val1 / rows.
// ---------------------------------------------------------------------------------------------------------
const IG_UNIFORMS: Binding[] = [
  I('n'),
  I('n0'),
  I('N'),
  I('S'),
  I('K'),
  I('D'),
  I('K0'),
  I('F0'),
  I('F1'),
  I('first'),
  F('invS'),
];
const IG_HEADER = `
fn tokOf(e: i32) -> i32 { return u.n0 + e / (u.S * u.K); }
/** The (point, slot) number r = s·k1 + slot of token n as an index into idx1 / val1. */
fn atOf(n: i32, r: i32) -> i32 { return ((r / u.K) * u.N + n) * u.K + r % u.K; }`;
const igStage = (outs: Binding[], ins: Binding[], body: string) =>
  stageCode(IG_UNIFORMS, IG_HEADER, outs, ins, body);

/** key[e] = the latent of an active entry that is its token's first with that latent, else F1 (sorts last). */
const CANON_CODE = igStage(
  [I('key')],
  [I('idx1'), F('val1')],
  `
  let n = tokOf(gid); let r = gid % (u.S * u.K); let at = atOf(n, r);
  if (val1[at] <= 0.0) { key[gid] = u.F1; return; }
  let j = idx1[at];
  for (var r2 = 0; r2 < r; r2++) {
    let at2 = atOf(n, r2);
    if (val1[at2] > 0.0 && idx1[at2] == j) { key[gid] = u.F1; return; }
  }
  key[gid] = j;`,
);

/** v_j(n) = Σ over the points and slots where j is active of the rows, at canonical entries (0 elsewhere). */
const V_CODE = igStage(
  [F('v')],
  [I('key'), I('idx1'), F('val1'), F('rows')],
  `
  let e = gid / u.D; let d = gid % u.D;
  let j = key[e];
  if (j >= u.F1) { v[gid] = 0.0; return; }
  let n = tokOf(e);
  var s = 0.0;
  for (var r = 0; r < u.S * u.K; r++) {
    let at = atOf(n, r);
    if (val1[at] > 0.0 && idx1[at] == j) { s += rows[at * u.D + d]; }
  }
  v[gid] = s;`,
);

/** Reference scaling: M_j[a, b] += c_n² v_a v_b for b ≥ a (the upper triangle finishAttribution reads; 0 below). */
const M_CODE = igStage(
  [F('out')],
  [I('start'), I('order'), F('v'), F('c')],
  `
  let j = gid / (u.D * u.D); let a = (gid / u.D) % u.D; let b = gid % u.D;
  if (b < a) { out[gid] = 0.0; return; }
  var s = select(out[gid], 0.0, u.first != 0);
  for (var p = start[j]; p < start[j + 1]; p++) {
    let e = order[p];
    let cn = c[tokOf(e)];
    s += (cn * cn * v[e * u.D + a]) * v[e * u.D + b];
  }
  out[gid] = s;`,
);

/** Textbook scaling: per (canonical entry, upstream slot q) the term (W_dec₀[i]·v · z₀ᵢ/S)², keyed by (i, j). */
const TERMS_CODE = igStage(
  [I('tkey'), F('tval')],
  [I('key'), F('v'), I('idx0'), F('val0'), F('wDec0')],
  `
  let e = gid / u.K0; let q = gid % u.K0;
  let n = tokOf(e);
  let z = val0[n * u.K0 + q];
  let j = key[e];
  if (j >= u.F1 || z <= 0.0) { tkey[gid] = u.F0 * u.F1; tval[gid] = 0.0; return; }
  let i = idx0[n * u.K0 + q];
  var dd = 0.0;
  for (var d = 0; d < u.D; d++) { dd += wDec0[i * u.D + d] * v[e * u.D + d]; }
  let x = dd * z * u.invS;
  tkey[gid] = i * u.F1 + j; tval[gid] = x * x;`,
);

const A2_CODE = igStage(
  [F('out')],
  [I('start'), I('order'), F('tval')],
  `
  var s = select(out[gid], 0.0, u.first != 0);
  for (var p = start[gid]; p < start[gid + 1]; p++) { s += tval[order[p]]; }
  out[gid] = s;`,
);

/** Per-chunk intermediates stay under this many floats (64 MiB each). */
const CHUNK_FLOATS = 1 << 24;

export function igAccumulateLocal(backend: tf.KernelBackend, inp: Inputs, attrs: Attrs): Info {
  const { idx1, val1, rows, c, idx0, val0, wDec0 } = inp;
  const { textbook, f1 } = attrs;
  const [S, N, K] = idx1.shape;
  const [F0, D] = wDec0.shape;
  const K0 = idx0.shape[1];
  const perToken = S * K * Math.max(D, textbook ? K0 : 1);
  // chunkTokens (tests) forces smaller chunks; the SIMD twin ignores it.
  const Nc = Math.max(1, Math.min(N, attrs.chunkTokens || Math.floor(CHUNK_FLOATS / perToken)));
  const out = alloc(backend, textbook ? [F0, f1] : [f1, D, D]);
  let n0 = 0;
  let first = 1;
  const run = (label: string, code: string, outputs: Dispatch['outputs'], ins: Info[], n: number) =>
    runStage(backend, `ig-${label}`, code, outputs, ins, n, [
      i32(n0),
      i32(N),
      i32(S),
      i32(K),
      i32(D),
      i32(K0),
      i32(F0),
      i32(f1),
      i32(first),
      f32(1 / S),
    ]);
  for (; n0 < N; n0 += Nc, first = 0) {
    const E = Math.min(Nc, N - n0) * S * K;
    const [key] = run('canon', CANON_CODE, [{ shape: [E], dtype: 'int32' }], [idx1, val1], E);
    const [v] = run('v', V_CODE, [{ shape: [E, D] }], [key, idx1, val1, rows], E * D);
    const byLatent = sortByLatent(backend, key, 0, E, f1);
    if (!textbook) {
      run('m', M_CODE, [out], [byLatent.start, byLatent.order, v, c], f1 * D * D);
    } else {
      const [tkey, tval] = run(
        'terms',
        TERMS_CODE,
        [{ shape: [E * K0], dtype: 'int32' }, { shape: [E * K0] }],
        [key, v, idx0, val0, wDec0],
        E * K0,
      );
      const byPair = sortByLatent(backend, tkey, 0, E * K0, F0 * f1);
      run('a2', A2_CODE, [out], [byPair.start, byPair.order, tval], F0 * f1);
      release(backend, tkey, tval, byPair.start, byPair.order);
    }
    release(backend, key, v, byLatent.start, byLatent.order);
  }
  return out;
}
