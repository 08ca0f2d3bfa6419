// AssemblyScript: the Jacobian SAE penalty λ·Σ|J|/k² and its gradient (SPEC §3.3), per token, over the
// active latents only. Row-vector convention; K₁ = active upstream latents, K₂ = active downstream ones.
//
//   mode 0 (fflayer):  J = A[K₁] · diag(g) · Cᵀ[K₂]ᵀ                    A = W_dec_in W_fc,  C = W_pr W_enc_out
//   mode 1 (ffblock, DyT) / mode 2 (ffblock, LayerNorm):
//     R = W_dec_mid[K₁],  R′ = R·J_norm,  P = R′·W_fc
//     J = (P ⊙ g) · Cᵀ[K₂]ᵀ + R · W_enc_postᵀ[K₂]ᵀ                       (MLP path + skip path)
//   DyT: J_norm = diag(s), s = γα(1 − tanh²(αx));  LN: v·J_norm = γ/σ ⊙ (v − mean(v) − (v·ŷ/D)·ŷ)
// g = gelu′ of the clean MLP pre-activation, s / ŷ / σ at the clean input. With S = coef·sign(J):
//   dCᵀ[j_b] += Σ_a S_ab (P⊙g)_a      dW_enc_postᵀ[j_b] += Σ_a S_ab R_a
//   d(P⊙g)_a = Σ_b S_ab Cᵀ[j_b]  →  dP = that ⊙ g  →  dR′_d = dP·W_fc[d, :]  →  dR = dR′·J_normᵀ + Σ_b S_ab W_enc_postᵀ[j_b]
//   mode 0: dA[i_a] += dP_a;  modes 1–2: dW_dec_mid[i_a] += dR_a
// LayerNorm without the per-token k·D·M products: with Q = (W_dec_mid ⊙ γ)·W_fc [F1, M] and c₀ = γ·W_fc [M] (per
// step) and z = (γ ⊙ ŷ)·W_fc [N, M] (per token), all plain matmuls done outside,
//   P_a = σ⁻¹ · (Q[i_a] − mean(R_a)·c₀ − (R_a·ŷ / D)·z)
// and backwards dQ[i_a] += σ⁻¹·dP_a, dR_a += −σ⁻¹·((dP_a·c₀)·1 + (dP_a·z)·ŷ) / D (dQ reaches W_dec_mid outside).
import { axpy, dot, f32at } from './math';



@inline function scaleN(y: usize, a: f32, n: i32): void {
  const av = f32x4.splat(a);
  for (let c = 0; c < n; c += 4) {
    const o = <usize>c << 2;
    v128.store(y + o, f32x4.mul(v128.load(y + o), av));
  }
}

@inline function mulN(y: usize, x: usize, n: i32): void {
  for (let c = 0; c < n; c += 4) {
    const o = <usize>c << 2;
    v128.store(y + o, f32x4.mul(v128.load(y + o), v128.load(x + o)));
  }
}


/**
 * Writes Σ_tokens Σ|J|/k² (unweighted) to totalOut. Gradient outputs are overwritten: dRows [F1, rowLen] (dA in mode 0,
 * dW_dec_mid otherwise), dCT [F2, M], dSkipT [F2, D] (mode ≥ 1). coef = λ/k² (·1/N for the mean convention).
 * norm [N, D]: s (DyT) or ŷ (LN); rstd [N] (LN); q [F1, M], c0 [M], z [N, M] and the output dQ [F1, M] (LN).
 */
export function jacobianPenalty(
  mode: i32, idx1: usize, val1: usize, idx2: usize, val2: usize,
  rows: usize, wFc: usize, cT: usize, skipT: usize, g: usize, norm: usize, rstd: usize,
  q: usize, c0: usize, z: usize,
  dRows: usize, dCT: usize, dSkipT: usize, dQ: usize, scratch: usize, totalOut: usize,
  N: i32, k: i32, D: i32, M: i32, F1: i32, F2: i32, coef: f32,
): void {
  const rowLen = mode == 0 ? M : D;
  memory.fill(dRows, 0, <usize>(F1 * rowLen) << 2);
  memory.fill(dCT, 0, <usize>(F2 * M) << 2);
  if (mode != 0) memory.fill(dSkipT, 0, <usize>(F2 * D) << 2);
  if (mode == 2) memory.fill(dQ, 0, <usize>(F1 * M) << 2);
  const invD: f32 = 1.0 / <f32>D;
  // scratch: a1[k] a2[k] (i32), Rn[k·D], P[k·M], S[k·k], dP[k·M], dR[k·D], tmp[D]
  const a1 = scratch;
  const a2 = a1 + (<usize>k << 2);
  const Rn = a2 + (<usize>k << 2);
  const P = Rn + (<usize>(k * D) << 2);
  const S = P + (<usize>(k * M) << 2);
  const dP = S + (<usize>(k * k) << 2);
  const dR = dP + (<usize>(k * M) << 2);
  const tmp = dR + (<usize>(k * D) << 2);
  const invK2: f32 = 1.0 / <f32>(k * k);
  let total: f32 = 0;
  for (let n = 0; n < N; n++) {
    let n1 = 0;
    let n2 = 0;
    for (let j = 0; j < k; j++) {
      if (load<f32>(f32at(val1, n * k + j)) > 0) {
        store<i32>(a1 + (<usize>n1 << 2), load<i32>(idx1 + (<usize>(n * k + j) << 2)));
        n1++;
      }
      if (load<f32>(f32at(val2, n * k + j)) > 0) {
        store<i32>(a2 + (<usize>n2 << 2), load<i32>(idx2 + (<usize>(n * k + j) << 2)));
        n2++;
      }
    }
    if (n1 == 0 || n2 == 0) continue;
    const gn = f32at(g, n * M);
    // P_a = (R′_a W_fc) ⊙ g   (mode 0: A[i_a] ⊙ g)
    for (let a = 0; a < n1; a++) {
      const i = load<i32>(a1 + (<usize>a << 2));
      const pa = f32at(P, a * M);
      if (mode == 0) {
        memory.copy(pa, f32at(rows, i * M), <usize>M << 2);
      } else if (mode == 1) {
        const ra = f32at(Rn, a * D);
        memory.copy(ra, f32at(rows, i * D), <usize>D << 2);
        mulN(ra, f32at(norm, n * D), D);
        memory.fill(pa, 0, <usize>M << 2);
        for (let d = 0; d < D; d++) axpy(pa, load<f32>(f32at(ra, d)), f32at(wFc, d * M), M);
      } else {
        const src = f32at(rows, i * D);
        let mean: f32 = 0;
        for (let d = 0; d < D; d++) mean += load<f32>(f32at(src, d));
        memory.copy(pa, f32at(q, i * M), <usize>M << 2);
        axpy(pa, -mean * invD, c0, M);
        axpy(pa, -dot(src, f32at(norm, n * D), D) * invD, f32at(z, n * M), M);
        scaleN(pa, load<f32>(f32at(rstd, n)), M);
      }
      mulN(pa, gn, M);
    }
    // J and S = coef·sign(J)
    for (let a = 0; a < n1; a++) {
      const i = load<i32>(a1 + (<usize>a << 2));
      for (let b = 0; b < n2; b++) {
        const jj = load<i32>(a2 + (<usize>b << 2));
        let J = dot(f32at(P, a * M), f32at(cT, jj * M), M);
        if (mode != 0) J += dot(f32at(rows, i * D), f32at(skipT, jj * D), D);
        total += Mathf.abs(J) * invK2;
        store<f32>(f32at(S, a * k + b), J > 0 ? coef : J < 0 ? -coef : 0);
      }
    }
    // dCᵀ[j_b] += Σ_a S_ab P_a ;  dSkipᵀ[j_b] += Σ_a S_ab R_a
    for (let b = 0; b < n2; b++) {
      const jj = load<i32>(a2 + (<usize>b << 2));
      for (let a = 0; a < n1; a++) {
        const sab = load<f32>(f32at(S, a * k + b));
        if (sab == 0) continue;
        axpy(f32at(dCT, jj * M), sab, f32at(P, a * M), M);
        if (mode != 0) axpy(f32at(dSkipT, jj * D), sab, f32at(rows, load<i32>(a1 + (<usize>a << 2)) * D), D);
      }
    }
    // dP_a = (Σ_b S_ab Cᵀ[j_b]) ⊙ g, then back to the rows
    for (let a = 0; a < n1; a++) {
      const i = load<i32>(a1 + (<usize>a << 2));
      const dpa = f32at(dP, a * M);
      memory.fill(dpa, 0, <usize>M << 2);
      for (let b = 0; b < n2; b++) {
        const sab = load<f32>(f32at(S, a * k + b));
        if (sab != 0) axpy(dpa, sab, f32at(cT, load<i32>(a2 + (<usize>b << 2)) * M), M);
      }
      mulN(dpa, gn, M);
      if (mode == 0) {
        axpy(f32at(dRows, i * M), 1, dpa, M);
        continue;
      }
      const dra = f32at(dR, a * D);
      if (mode == 1) {
        // dR′ = dP·W_fcᵀ, then through J_normᵀ = diag(s)
        for (let d = 0; d < D; d++) store<f32>(f32at(tmp, d), dot(dpa, f32at(wFc, d * M), M));
        memory.copy(dra, tmp, <usize>D << 2);
        mulN(dra, f32at(norm, n * D), D);
      } else {
        const r = load<f32>(f32at(rstd, n));
        axpy(f32at(dQ, i * M), r, dpa, M);
        const byMean = -r * dot(dpa, c0, M) * invD;
        const byYhat = -r * dot(dpa, f32at(z, n * M), M) * invD;
        const yhat = f32at(norm, n * D);
        for (let d = 0; d < D; d++) store<f32>(f32at(dra, d), byMean + byYhat * load<f32>(f32at(yhat, d)));
      }
      // plus the skip path
      for (let b = 0; b < n2; b++) {
        const sab = load<f32>(f32at(S, a * k + b));
        if (sab != 0) axpy(dra, sab, f32at(skipT, load<i32>(a2 + (<usize>b << 2)) * D), D);
      }
      axpy(f32at(dRows, i * D), 1, dra, D);
    }
  }
  store<f32>(totalOut, total);
}
