// AssemblyScript: kernels of SCALAR's integrated-gradient edge attribution (SPEC §4.2), fast path.
//
// For an active downstream latent j at a token and an α point, the gradient of pre₁_j with respect to the
// segment input x is a D-vector ("Jacobian row"). With C = W_pr W_enc₁ [M, F₁] (stored transposed, cT [F₁, M])
// and g = gelu′ of the MLP pre-activation at that point:
//   mode 0 (MLP, fflayer):          row = W_fc (g ⊙ C[:, j])
//   mode 1 (x + MLP(DyT(x))):       row = W_enc₁[:, j] + s ⊙ W_fc (g ⊙ C[:, j]),   s = γα(1 − tanh²(αx))
//   mode 2 (x + MLP(LN(x))):        row = W_enc₁[:, j] + J_LNᵀ·W_fc (g ⊙ C[:, j])  (rank-1 form)
// Modes 1–2 also give a transformer block's seed at h_mid (its MLP half is exactly that map).
import { axpy, dot, dot4, expNeg, f32at, lnApply } from './math';


/**
 * rows [N, k, D]: the Jacobian row of every (token, code slot) whose value is positive (zeros elsewhere).
 * idx1/val1 [N, k]: downstream codes at this point; g [N, M]; norm [N, D] (s for DyT, ŷ for LN); rstd [N];
 * gamma [D]; cT [F₁, M]; wFc [D, M]; wEncT [F₁, D]; scratch ≥ M floats.
 */
export function jacobianRows(
  mode: i32, idx1: usize, val1: usize, g: usize, norm: usize, rstd: usize, gamma: usize,
  cT: usize, wFc: usize, wEncT: usize, rows: usize, scratch: usize, N: i32, k: i32, D: i32, M: i32,
): void {
  const r = scratch;
  memory.fill(rows, 0, <usize>(N * k * D) << 2);
  for (let n = 0; n < N; n++) {
    const gn = f32at(g, n * M);
    for (let slot = 0; slot < k; slot++) {
      if (load<f32>(f32at(val1, n * k + slot)) <= 0) continue;
      const j = load<i32>(idx1 + (<usize>(n * k + slot) << 2));
      const cj = f32at(cT, j * M);
      for (let m = 0; m < M; m += 4) {
        const o = <usize>m << 2;
        v128.store(r + o, f32x4.mul(v128.load(gn + o), v128.load(cj + o)));
      }
      const out = f32at(rows, (n * k + slot) * D);
      for (let a = 0; a < D; a++) store<f32>(f32at(out, a), dot(f32at(wFc, a * M), r, M));
      if (mode == 1) {
        const s = f32at(norm, n * D);
        for (let a = 0; a < D; a++) store<f32>(f32at(out, a), load<f32>(f32at(out, a)) * load<f32>(f32at(s, a)));
      } else if (mode == 2) {
        lnApply(out, out, f32at(norm, n * D), gamma, load<f32>(f32at(rstd, n)), D, true);
      }
      if (mode != 0) {
        const skip = f32at(wEncT, j * D);
        for (let a = 0; a < D; a += 4) {
          const o = <usize>a << 2;
          v128.store(out + o, f32x4.add(v128.load(out + o), v128.load(skip + o)));
        }
      }
    }
  }
}


/** One key s of one seed and head: dq += ds·k_h(s);  dLN(s) += ds·uk + p·uv. */
@inline function accumulateKey(dq: usize, row: usize, uk: usize, uv: usize, kh: usize, ds: f32, p: f32, hd: i32, D: i32): void {
  const dd = f32x4.splat(ds);
  const pp = f32x4.splat(p);
  for (let c = 0; c < hd; c += 4) {
    const o = <usize>c << 2;
    v128.store(dq + o, f32x4.add(v128.load(dq + o), f32x4.mul(dd, v128.load(kh + o))));
  }
  for (let c = 0; c < D; c += 4) {
    const o = <usize>c << 2;
    v128.store(row + o, f32x4.add(v128.load(row + o), f32x4.add(f32x4.mul(dd, v128.load(uk + o)), f32x4.mul(pp, v128.load(uv + o)))));
  }
}


/**
 * Adds c²·v vᵀ into M_j (reference scaling) or (z₀ᵢ/S)²·(W_dec₀[i]·v)² into A²[i, j] (textbook). M_j is
 * symmetric, so only its upper triangle is accumulated (row a from column a rounded down to a multiple of 4,
 * keeping SIMD alignment); entries below the diagonal are incomplete and must not be read.
 */
@inline function accumulateVector(
  v: usize, j: i32, c: f32, textbook: i32, idx0: usize, val0: usize, k0: i32, invS: f32,
  wDec0: usize, out: usize, D: i32, F1: i32,
): void {
  if (textbook == 0) {
    const mj = f32at(out, j * D * D);
    const c2 = c * c;
    for (let a = 0; a < D; a++) {
      const va = load<f32>(f32at(v, a));
      const from = a & ~3;
      if (va != 0) axpy(f32at(mj, a * D + from), c2 * va, f32at(v, from), D - from);
    }
    return;
  }
  for (let q = 0; q < k0; q++) {
    const z = load<f32>(f32at(val0, q));
    if (z <= 0) continue;
    const i = load<i32>(idx0 + (<usize>q << 2));
    const d = dot(f32at(wDec0, i * D), v, D) * z * invS;
    const o = f32at(out, i * F1 + j);
    store<f32>(o, load<f32>(o) + d * d);
  }
}

/**
 * Position-local segments (fflayer, ffblock). rows [S, N, k1, D] and codes idx1/val1 [S, N, k1] per α point;
 * per token the rows of each latent are summed over the points (v_j), then accumulated (see accumulateVector).
 * out: M [F₁, D, D] (reference) or A² [F₀, F₁] (textbook), overwritten. c [N] = ‖z₀‖₂/S. scratch ≥ S·k1·(D+1).
 */
export function igAccumulateLocal(
  S: i32, N: i32, k1: i32, D: i32, F0: i32, F1: i32, idx1: usize, val1: usize, rows: usize, c: usize,
  textbook: i32, idx0: usize, val0: usize, k0: i32, wDec0: usize, out: usize, scratch: usize,
): void {
  memory.fill(out, 0, <usize>(textbook == 0 ? F1 * D * D : F0 * F1) << 2);
  const maxJ = S * k1;
  const js = scratch;
  const vs = scratch + (<usize>maxJ << 2);
  const invS: f32 = 1.0 / <f32>S;
  for (let n = 0; n < N; n++) {
    let nj = 0;
    for (let s = 0; s < S; s++) {
      for (let slot = 0; slot < k1; slot++) {
        const at = (s * N + n) * k1 + slot;
        if (load<f32>(f32at(val1, at)) <= 0) continue;
        const j = load<i32>(idx1 + (<usize>at << 2));
        let p = 0;
        while (p < nj && load<i32>(js + (<usize>p << 2)) != j) p++;
        if (p == nj) {
          store<i32>(js + (<usize>p << 2), j);
          memory.fill(f32at(vs, p * D), 0, <usize>D << 2);
          nj++;
        }
        axpy(f32at(vs, p * D), 1, f32at(rows, at * D), D);
      }
    }
    for (let p = 0; p < nj; p++) {
      accumulateVector(f32at(vs, p * D), load<i32>(js + (<usize>p << 2)), load<f32>(f32at(c, n)), textbook,
        idx0 + (<usize>(n * k0) << 2), f32at(val0, n * k0), k0, invS, wDec0, out, D, F1);
    }
  }
}

/**
 * Transformer block (tblock): B sequences of T tokens, S points. rows are the seeds at h_mid (mode 1/2 rows);
 * each seed (t′, j) is backpropagated through the causal attention (P rebuilt from stats) to the LN1 output
 * at every position s ≤ t′, then through LN1 (rank-1 form) and the residual to the block input:
 *   dO = W_o ρ;  per head: dp(s) = dO_h·v_h(s), ds(s) = p(s)(dp(s) − dO_h·O_h(t′))/√hd
 *   dLN(s) += ds(s)·W_k,h q_h(t′) + p(s)·W_v,h dO_h,   dLN(t′) += W_q,h Σ_s ds(s) k_h(s)
 *   v_j(s) += J_LN1ᵀ dLN(s) (per point),  v_j(t′) += ρ (residual)
 * then v_j(t) summed over the points is accumulated per token as in the local case.
 * qkv [S,B,T,3D], stats [S,B,H,T,2], attnO [S,B,T,D], yhat1 [S,B,T,D], rstd1 [S,B,T].
 * scratch ≥ 2·F₁·T·D + 4·F₁ + (2H + 2)·D floats.
 */
export function igAccumulateBlock(
  S: i32, B: i32, T: i32, H: i32, D: i32, F0: i32, F1: i32, k1: i32,
  qkv: usize, stats: usize, attnO: usize, yhat1: usize, rstd1: usize, gamma1: usize, wO: usize, wQkv: usize,
  idx1: usize, val1: usize, rows: usize, c: usize,
  textbook: i32, idx0: usize, val0: usize, k0: i32, wDec0: usize, out: usize, scratch: usize,
): void {
  memory.fill(out, 0, <usize>(textbook == 0 ? F1 * D * D : F0 * F1) << 2);
  const hd = D / H;
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>hd);
  const invS: f32 = 1.0 / <f32>S;
  const slab = <usize>(T * D) << 2; // one slot's [T, D] block, bytes
  const V = scratch;
  const dLN = V + <usize>F1 * slab;
  const slotOf = dLN + <usize>F1 * slab;
  const slotJ = slotOf + (<usize>F1 << 2);
  const reach = slotJ + (<usize>F1 << 2); // per slot: last position its seeds touch at this point
  const reachAll = reach + (<usize>F1 << 2); // per slot: last position touched at any point
  const dO = reachAll + (<usize>F1 << 2);
  const uk = dO + (<usize>D << 2);
  const uv = uk + (<usize>(H * D) << 2);
  const tmp = uv + (<usize>(H * D) << 2);
  const rowQkv = 3 * D;
  for (let b = 0; b < B; b++) {
    // Slots: the downstream latents active anywhere in this sequence at any point.
    for (let j = 0; j < F1; j++) store<i32>(slotOf + (<usize>j << 2), -1);
    let nSlots = 0;
    for (let s = 0; s < S; s++) {
      for (let q = 0; q < T * k1; q++) {
        const at = (s * B + b) * T * k1 + q;
        if (load<f32>(f32at(val1, at)) <= 0) continue;
        const j = load<i32>(idx1 + (<usize>at << 2));
        if (load<i32>(slotOf + (<usize>j << 2)) < 0) {
          store<i32>(slotOf + (<usize>j << 2), nSlots);
          store<i32>(slotJ + (<usize>nSlots << 2), j);
          nSlots++;
        }
      }
    }
    memory.fill(V, 0, <usize>nSlots * slab);
    for (let sl = 0; sl < nSlots; sl++) store<i32>(reachAll + (<usize>sl << 2), -1);
    for (let s = 0; s < S; s++) {
      memory.fill(dLN, 0, <usize>nSlots * slab);
      for (let sl = 0; sl < nSlots; sl++) store<i32>(reach + (<usize>sl << 2), -1);
      const sb = s * B + b;
      const qkvSeq = f32at(qkv, sb * T * rowQkv);
      for (let t1 = 0; t1 < T; t1++) {
        for (let slot = 0; slot < k1; slot++) {
          const at = (sb * T + t1) * k1 + slot;
          if (load<f32>(f32at(val1, at)) <= 0) continue;
          const sl = load<i32>(slotOf + (<usize>load<i32>(idx1 + (<usize>at << 2)) << 2));
          store<i32>(reach + (<usize>sl << 2), max(load<i32>(reach + (<usize>sl << 2)), t1));
          const rho = f32at(rows, at * D);
          const vSlot = V + <usize>sl * slab;
          const dSlot = dLN + <usize>sl * slab;
          axpy(f32at(vSlot, t1 * D), 1, rho, D); // residual path
          for (let cc = 0; cc < D; cc++) store<f32>(f32at(dO, cc), dot(f32at(wO, cc * D), rho, D));
          const q1 = f32at(qkvSeq, t1 * rowQkv);
          for (let h = 0; h < H; h++) {
            const qh = q1 + (<usize>(h * hd) << 2);
            const dOh = dO + (<usize>(h * hd) << 2);
            const st = f32at(stats, ((sb * H + h) * T + t1) * 2);
            const mx = load<f32>(st);
            const inv = load<f32>(st, 4);
            const delta = dot(dOh, f32at(attnO, (sb * T + t1) * D + h * hd), hd);
            // uk = W_k,h q_h(t′), uv = W_v,h dO_h, and dq_h (in tmp) = Σ_s ds(s) k_h(s)
            const ukh = uk + (<usize>(h * D) << 2);
            const uvh = uv + (<usize>(h * D) << 2);
            for (let a = 0; a < D; a++) {
              store<f32>(f32at(ukh, a), dot(f32at(wQkv, a * rowQkv + D + h * hd), qh, hd));
              store<f32>(f32at(uvh, a), dot(f32at(wQkv, a * rowQkv + 2 * D + h * hd), dOh, hd));
            }
            memory.fill(tmp, 0, <usize>hd << 2);
            // Keys four at a time: four scores, probabilities and ds in one vector each.
            const n4 = (t1 + 1) & ~3;
            const mm = f32x4.splat(mx);
            const iv = f32x4.splat(inv);
            const dl = f32x4.splat(delta);
            const sc = f32x4.splat(scale);
            for (let s2 = 0; s2 < n4; s2 += 4) {
              const kh = qkvSeq + (<usize>(s2 * rowQkv + D + h * hd) << 2);
              const vh = kh + (<usize>D << 2);
              const strideB = <usize>rowQkv << 2;
              const p4 = f32x4.mul(expNeg(f32x4.sub(f32x4.mul(dot4(qh, kh, strideB, hd), sc), mm)), iv);
              const ds4 = f32x4.mul(f32x4.mul(p4, f32x4.sub(dot4(dOh, vh, strideB, hd), dl)), sc);
              const row = f32at(dSlot, s2 * D);
              accumulateKey(tmp, row, ukh, uvh, kh, f32x4.extract_lane(ds4, 0), f32x4.extract_lane(p4, 0), hd, D);
              accumulateKey(tmp, row + (<usize>D << 2), ukh, uvh, kh + strideB, f32x4.extract_lane(ds4, 1), f32x4.extract_lane(p4, 1), hd, D);
              accumulateKey(tmp, row + (<usize>(2 * D) << 2), ukh, uvh, kh + 2 * strideB, f32x4.extract_lane(ds4, 2), f32x4.extract_lane(p4, 2), hd, D);
              accumulateKey(tmp, row + (<usize>(3 * D) << 2), ukh, uvh, kh + 3 * strideB, f32x4.extract_lane(ds4, 3), f32x4.extract_lane(p4, 3), hd, D);
            }
            for (let s2 = n4; s2 <= t1; s2++) {
              const kh = qkvSeq + (<usize>(s2 * rowQkv + D + h * hd) << 2);
              const vh = kh + (<usize>D << 2);
              const p = f32x4.extract_lane(expNeg(f32x4.splat(dot(qh, kh, hd) * scale - mx)), 0) * inv;
              const ds = p * (dot(dOh, vh, hd) - delta) * scale;
              accumulateKey(tmp, f32at(dSlot, s2 * D), ukh, uvh, kh, ds, p, hd, D);
            }
            // dLN(t′) += W_q,h dq_h
            const rowT = f32at(dSlot, t1 * D);
            for (let a = 0; a < D; a++) {
              store<f32>(f32at(rowT, a), load<f32>(f32at(rowT, a)) + dot(f32at(wQkv, a * rowQkv + h * hd), tmp, hd));
            }
          }
        }
      }
      // Through LN1 at every position: v(s) += (w′ − mean(w′) − ŷ·(ŷ·w′)/D)/σ with w′ = γ ⊙ dLN(s).
      for (let sl = 0; sl < nSlots; sl++) {
        const last = load<i32>(reach + (<usize>sl << 2));
        store<i32>(reachAll + (<usize>sl << 2), max(last, load<i32>(reachAll + (<usize>sl << 2))));
        for (let t = 0; t <= last; t++) {
          const g = dLN + <usize>sl * slab + (<usize>(t * D) << 2);
          lnApply(dO, g, f32at(yhat1, (sb * T + t) * D), gamma1, load<f32>(f32at(rstd1, sb * T + t)), D, true);
          axpy(V + <usize>sl * slab + (<usize>(t * D) << 2), 1, dO, D);
        }
      }
    }
    for (let sl = 0; sl < nSlots; sl++) {
      const j = load<i32>(slotJ + (<usize>sl << 2));
      const last = load<i32>(reachAll + (<usize>sl << 2));
      for (let t = 0; t <= last; t++) {
        accumulateVector(V + <usize>sl * slab + (<usize>(t * D) << 2), j, load<f32>(f32at(c, b * T + t)), textbook,
          idx0 + (<usize>((b * T + t) * k0) << 2), f32at(val0, (b * T + t) * k0), k0, invS, wDec0, out, D, F1);
      }
    }
  }
}
