/**
 * WGSL twin of the JSAE Jacobian penalty (simd/jacobian.ts jacobianPenalty, SPEC §3.3): the same inputs, modes,
 * attributes and outputs (dRows, dCT, dSkipT, total, dQ). The maths and names follow the SIMD kernel's header.
 *
 * Per chunk of tokens (bounded so the per-entry intermediates stay ≤ CHUNK_FLOATS floats each):
 *   P  [t, a, M]  = the MLP path of upstream slot a (zero where the slot is inactive)
 *   S  [t, a, b]  = coef·sign(J_ab) over active pairs, |J_ab|/k² summed per token into tot [N]
 *   dP [t, a, M]  = (Σ_b S_ab Cᵀ[j_b]) ⊙ g
 * then the scatter-adds into latent rows (dRows / dQ by upstream latent, dCT / dSkipT by downstream latent)
 * become gathers over the entries sorted by latent (sort.ts), each output element written by one invocation
 * that adds its entries in token order, then slot order — the order the SIMD kernel adds in. Chunks add in
 * order into the outputs; the total sums tot in token order. No atomics: identical results run to run.
 */
import type * as tf from '@tensorflow/tfjs';
import {
  alloc as allocInfo,
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

/** Per-entry intermediates (P, dP) of one chunk stay under this many floats (64 MiB each). */
const CHUNK_FLOATS = 1 << 24;

const F = (n: string): Binding => [n, 'f32'];
const I = (n: string): Binding => [n, 'i32'];

/** One uniform struct for every stage: n = invocations of this dispatch, the chunk, the sizes. */
const UNIFORMS: Binding[] = [
  I('n'),
  I('Nc'),
  I('n0'),
  I('K'),
  I('D'),
  I('M'),
  I('first'),
  F('coef'),
  F('invK2'),
];
const header = (mode: number) => `
const MODE = ${mode};
fn gent(t: i32, s: i32) -> i32 { return (u.n0 + t) * u.K + s; } // global code entry of chunk token t, slot s
fn invD() -> f32 { return 1.0 / f32(u.D); }`;

const stage = (mode: number, outs: Binding[], ins: Binding[], body: string) =>
  stageCode(UNIFORMS, header(mode), outs, ins, body);

/** Σ_d R_a and R_a·ŷ per entry (LayerNorm): the mean and projection of the rank-1 LN Jacobian. */
const auxCode = (mode: number) =>
  stage(
    mode,
    [F('aux')],
    [I('idx1'), F('val1'), F('rows'), F('norm')],
    `
  let t = gid / u.K; let q = gent(t, gid % u.K);
  var sum = 0.0; var proj = 0.0;
  if (val1[q] > 0.0) {
    let r = idx1[q] * u.D; let y = (u.n0 + t) * u.D;
    for (var d = 0; d < u.D; d++) { sum += rows[r + d]; proj += rows[r + d] * norm[y + d]; }
  }
  aux[2 * gid] = sum; aux[2 * gid + 1] = proj;`,
  );

/** P_a = (R′_a W_fc) ⊙ g (mode 0: A[i_a] ⊙ g); mode 2 through Q, c₀ and z (see simd/jacobian.ts). */
const pCode = (mode: number) => {
  const ins = [I('idx1'), F('val1'), F('g')];
  if (mode === 0) ins.push(F('rows'));
  if (mode === 1) ins.push(F('rows'), F('norm'), F('wFc'));
  if (mode === 2) ins.push(F('qm'), F('c0'), F('z'), F('rstd'), F('aux'));
  const path = [
    `p = rows[i * u.M + m];`,
    `for (var d = 0; d < u.D; d++) { p += (rows[i * u.D + d] * norm[n * u.D + d]) * wFc[d * u.M + m]; }`,
    `p = qm[i * u.M + m];
    p += (-aux[2 * e] * invD()) * c0[m];
    p += (-aux[2 * e + 1] * invD()) * z[n * u.M + m];
    p = p * rstd[n];`,
  ][mode];
  return stage(
    mode,
    [F('P')],
    ins,
    `
  let e = gid / u.M; let m = gid % u.M;
  let t = e / u.K; let n = u.n0 + t; let q = gent(t, e % u.K);
  if (val1[q] <= 0.0) { P[gid] = 0.0; return; }
  let i = idx1[q];
  var p = 0.0;
  ${path}
  P[gid] = p * g[n * u.M + m];`,
  );
};

/** J_ab over active pairs → S = coef·sign(J) and |J|/k². (Auto layouts drop unused bindings: idx1 only where read.) */
const sCode = (mode: number) =>
  stage(
    mode,
    [F('S'), F('absJ')],
    [F('val1'), I('idx2'), F('val2'), F('P'), F('cT'), ...(mode ? [I('idx1'), F('rows'), F('skipT')] : [])],
    `
  let t = gid / (u.K * u.K); let a = (gid / u.K) % u.K; let b = gid % u.K;
  let qa = gent(t, a); let qb = gent(t, b);
  if (val1[qa] <= 0.0 || val2[qb] <= 0.0) { S[gid] = 0.0; absJ[gid] = 0.0; return; }
  let j = idx2[qb];
  let pa = (t * u.K + a) * u.M;
  var J = 0.0;
  for (var m = 0; m < u.M; m++) { J += P[pa + m] * cT[j * u.M + m]; }
  ${
    mode
      ? `let i = idx1[qa]; var sk = 0.0;
  for (var d = 0; d < u.D; d++) { sk += rows[i * u.D + d] * skipT[j * u.D + d]; }
  J += sk;`
      : ''
  }
  absJ[gid] = abs(J) * u.invK2;
  S[gid] = select(select(0.0, -u.coef, J < 0.0), u.coef, J > 0.0);`,
  );

/** Per token, Σ_ab |J_ab|/k² in (a, b) order. */
const tokCode = (mode: number) =>
  stage(
    mode,
    [F('tot')],
    [F('absJ')],
    `
  var s = 0.0;
  for (var ab = 0; ab < u.K * u.K; ab++) { s += absJ[gid * u.K * u.K + ab]; }
  tot[u.n0 + gid] = s;`,
  );

const dpCode = (mode: number) =>
  stage(
    mode,
    [F('dP')],
    [F('S'), I('idx2'), F('cT'), F('g')],
    `
  let e = gid / u.M; let m = gid % u.M; let t = e / u.K;
  var s = 0.0;
  for (var b = 0; b < u.K; b++) {
    let sab = S[e * u.K + b];
    if (sab != 0.0) { s += sab * cT[idx2[gent(t, b)] * u.M + m]; }
  }
  dP[gid] = s * g[(u.n0 + t) * u.M + m];`,
  );

/** dP_a·c₀ and dP_a·z (LayerNorm backward through the rank-1 form). */
const aux2Code = (mode: number) =>
  stage(
    mode,
    [F('aux2')],
    [F('dP'), F('c0'), F('z')],
    `
  let n = u.n0 + gid / u.K;
  var a0 = 0.0; var a1 = 0.0;
  for (var m = 0; m < u.M; m++) { let v = dP[gid * u.M + m]; a0 += v * c0[m]; a1 += v * z[n * u.M + m]; }
  aux2[2 * gid] = a0; aux2[2 * gid + 1] = a1;`,
  );

/** A gather over the sorted entries of latent f into out[f, c] (added to the earlier chunks' sum). */
const gather = (mode: number, out: string, ins: Binding[], width: string, perEntry: string) =>
  stage(
    mode,
    [F(out)],
    [I('start'), I('order'), ...ins],
    `
  let f = gid / ${width}; let c = gid % ${width};
  var s = select(${out}[gid], 0.0, u.first != 0);
  for (var p = start[f]; p < start[f + 1]; p++) {
    let e = order[p]; let t = e / u.K; let n = u.n0 + t;
${perEntry}
  }
  ${out}[gid] = s;`,
  );

/** The skip path of dR_a: Σ_b S_ab W_enc_postᵀ[j_b]. */
const SKIP_DR = `
    for (var b = 0; b < u.K; b++) {
      let sab = S[e * u.K + b];
      if (sab != 0.0) { r += sab * skipT[idx2[gent(t, b)] * u.D + c]; }
    }`;

const dRowsCode = (mode: number) =>
  mode === 0
    ? gather(mode, 'dRows', [F('dP')], 'u.M', `    s += dP[e * u.M + c];`)
    : mode === 1
      ? gather(
          mode,
          'dRows',
          [F('val1'), F('dP'), F('wFc'), F('norm'), F('S'), I('idx2'), F('skipT')],
          'u.D',
          `
    if (val1[gent(t, e % u.K)] <= 0.0) { continue; }
    var x = 0.0;
    for (var m = 0; m < u.M; m++) { x += dP[e * u.M + m] * wFc[c * u.M + m]; }
    var r = x * norm[n * u.D + c];${SKIP_DR}
    s += r;`,
        )
      : gather(
          mode,
          'dRows',
          [F('val1'), F('aux2'), F('rstd'), F('norm'), F('S'), I('idx2'), F('skipT')],
          'u.D',
          `
    if (val1[gent(t, e % u.K)] <= 0.0) { continue; }
    let rs = rstd[n];
    let byMean = -rs * aux2[2 * e] * invD();
    let byYhat = -rs * aux2[2 * e + 1] * invD();
    var r = byMean + byYhat * norm[n * u.D + c];${SKIP_DR}
    s += r;`,
        );

const dQCode = (mode: number) =>
  gather(mode, 'dQ', [F('dP'), F('rstd')], 'u.M', `    s += rstd[n] * dP[e * u.M + c];`);

/** Downstream latent f's entries are (t, b): Σ_a S_ab P_a into dCᵀ[f], Σ_a S_ab R_a into dW_enc_postᵀ[f]. */
const dCTCode = (mode: number) =>
  gather(
    mode,
    'dCT',
    [F('S'), F('P')],
    'u.M',
    `
    let b = e % u.K;
    for (var a = 0; a < u.K; a++) {
      let sab = S[(t * u.K + a) * u.K + b];
      if (sab != 0.0) { s += sab * P[(t * u.K + a) * u.M + c]; }
    }`,
  );

const dSkipCode = (mode: number) =>
  gather(
    mode,
    'dSkipT',
    [F('S'), I('idx1'), F('rows')],
    'u.D',
    `
    let b = e % u.K;
    for (var a = 0; a < u.K; a++) {
      let sab = S[(t * u.K + a) * u.K + b];
      if (sab != 0.0) { s += sab * rows[idx1[gent(t, a)] * u.D + c]; }
    }`,
  );

const totalCode = stage(
  0,
  [F('total')],
  [F('tot')],
  `
  var s = 0.0;
  for (var n = 0; n < u.Nc; n++) { s += tot[n]; }
  total[0] = s;`,
);

/** The unused [1] outputs of a mode (dSkipT in mode 0, dQ outside mode 2): pooled buffers are not zeroed. */
const zeroCode = stage(0, [F('o')], [], `  o[gid] = 0.0;`);

const codes = new Map<number, Record<string, string>>();
function codesFor(mode: number): Record<string, string> {
  let c = codes.get(mode);
  if (!c) {
    const make = { aux: auxCode, p: pCode, s: sCode, tok: tokCode, dp: dpCode, aux2: aux2Code };
    const more = { dRows: dRowsCode, dQ: dQCode, dCT: dCTCode, dSkip: dSkipCode };
    c = Object.fromEntries(Object.entries({ ...make, ...more }).map(([k, fn]) => [k, fn(mode)]));
    codes.set(mode, c);
  }
  return c;
}

export function jacobianPenalty(backend: tf.KernelBackend, inp: Inputs, attrs: Attrs): Info[] {
  const { idx1, val1, idx2, val2, rows, wFc, cT, skipT, g, norm, rstd, q, c0, z } = inp;
  const { mode, coef } = attrs;
  const [N, K] = idx1.shape;
  const [F2, M] = cT.shape;
  const F1 = rows.shape[0];
  const D = wFc.shape[0];
  const code = codesFor(mode);
  // chunkTokens (tests) forces smaller chunks; the SIMD twin ignores it.
  const Nc = Math.max(1, Math.min(N, attrs.chunkTokens || Math.floor(CHUNK_FLOATS / (K * Math.max(M, K)))));
  let n0 = 0;
  let nc = Nc;
  let first = 1;
  const run = (
    label: string,
    c: string,
    outputs: (Info | { shape: number[] })[],
    inputs: Info[],
    n: number,
  ) =>
    runStage(backend, `jsae-${label}`, c, outputs, inputs, n, [
      i32(nc),
      i32(n0),
      i32(K),
      i32(D),
      i32(M),
      i32(first),
      f32(coef),
      f32(1 / (K * K)),
    ]);
  const alloc = (shape: number[]) => allocInfo(backend, shape);
  const outs = {
    dRows: alloc([F1, mode === 0 ? M : D]),
    dCT: alloc([F2, M]),
    dSkipT: alloc(mode === 0 ? [1] : [F2, D]),
    total: alloc([1]),
    dQ: alloc(mode === 2 ? [F1, M] : [1]),
    tot: alloc([N]),
  };
  if (mode === 0) run('zero', zeroCode, [outs.dSkipT], [], 1);
  if (mode !== 2) run('zero', zeroCode, [outs.dQ], [], 1);
  // Intermediates of one chunk, reused by every chunk (the last one uses a prefix).
  const P = alloc([Nc * K * M]);
  const dP = alloc([Nc * K * M]);
  const S = alloc([Nc * K * K]);
  const absJ = alloc([Nc * K * K]);
  const aux = alloc([Nc * K * 2]);
  const aux2 = alloc([Nc * K * 2]);
  for (; n0 < N; n0 += Nc, first = 0) {
    nc = Math.min(Nc, N - n0);
    const E = nc * K;
    if (mode === 2) run('aux', code.aux, [aux], [idx1, val1, rows, norm], E);
    const pIns = [[rows], [rows, norm, wFc], [q, c0, z, rstd, aux]][mode];
    run('p', code.p, [P], [idx1, val1, g, ...pIns], E * M);
    run('s', code.s, [S, absJ], [val1, idx2, val2, P, cT, ...(mode ? [idx1, rows, skipT] : [])], E * K);
    run('tok', code.tok, [outs.tot], [absJ], nc);
    run('dp', code.dp, [dP], [S, idx2, cT, g], E * M);
    if (mode === 2) run('aux2', code.aux2, [aux2], [dP, c0, z], E);
    const up = sortByLatent(backend, idx1, n0 * K, E, F1);
    const upIns = [up.start, up.order];
    if (mode === 0) run('drows', code.dRows, [outs.dRows], [...upIns, dP], F1 * M);
    if (mode === 1)
      run('drows', code.dRows, [outs.dRows], [...upIns, val1, dP, wFc, norm, S, idx2, skipT], F1 * D);
    if (mode === 2) {
      run('drows', code.dRows, [outs.dRows], [...upIns, val1, aux2, rstd, norm, S, idx2, skipT], F1 * D);
      run('dq', code.dQ, [outs.dQ], [...upIns, dP, rstd], F1 * M);
    }
    const down = sortByLatent(backend, idx2, n0 * K, E, F2);
    const downIns = [down.start, down.order];
    run('dct', code.dCT, [outs.dCT], [...downIns, S, P], F2 * M);
    if (mode !== 0) run('dskip', code.dSkip, [outs.dSkipT], [...downIns, S, idx1, rows], F2 * D);
    release(backend, up.order, up.start, down.order, down.start);
  }
  nc = N;
  run('total', totalCode, [outs.total], [outs.tot], 1);
  release(backend, P, dP, S, absJ, aux, aux2, outs.tot);
  return [outs.dRows, outs.dCT, outs.dSkipT, outs.total, outs.dQ];
}
