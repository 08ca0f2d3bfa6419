// AssemblyScript: sparse kernels of the TopK SAE (SPEC §3.1). Codes are stored sparsely as k (index, value)
// pairs per token, so decoding and every gradient cost O(k·D) per token instead of O(F·D).
import { f32at } from './math';

/**
 * Row-wise top-k of v = xw [N, F] + bEnc [F] (bEnc = 0: no bias), through a ReLU when `relu` ≠ 0, into idx
 * [N, k] (i32) and val [N, k], sorted by value descending. Exactly k are kept; among equal values the lower
 * index wins, as in a stable sort: indices are scanned in order and only a strictly larger value displaces.
 * Fusing the bias and the ReLU saves two passes over the [N, F] pre-activations.
 */
export function topkRows(xw: usize, bEnc: usize, relu: i32, idx: usize, val: usize, N: i32, F: i32, k: i32): void {
  const F4 = F & ~3;
  for (let n = 0; n < N; n++) {
    const row = f32at(xw, n * F);
    const vi = idx + (<usize>(n * k) << 2);
    const vv = f32at(val, n * k);
    // Valid indices from the start: a row of NaN or −∞ (nothing beats the threshold) must never leave
    // uninitialised indices behind for a decode to follow.
    for (let j = 0; j < k; j++) {
      store<f32>(f32at(vv, j), -Infinity);
      store<i32>(vi + (<usize>j << 2), j);
    }
    let thr: f32 = -Infinity; // the k-th largest value so far
    for (let c = 0; c < F; c += 4) {
      // Most blocks of four hold nothing above the current k-th value: one vector test skips them.
      if (c < F4) {
        let v4 = v128.load(f32at(row, c));
        if (bEnc != 0) v4 = f32x4.add(v4, v128.load(f32at(bEnc, c)));
        if (relu != 0) v4 = f32x4.max(v4, f32x4.splat(0));
        if (!v128.any_true(f32x4.gt(v4, f32x4.splat(thr)))) continue;
      }
      const end = min(c + 4, F);
      for (let cc = c; cc < end; cc++) {
        let v = load<f32>(f32at(row, cc)) + (bEnc != 0 ? load<f32>(f32at(bEnc, cc)) : 0);
        if (relu != 0) v = max<f32>(v, 0);
        if (v <= thr) continue;
        let pos = k - 1;
        while (pos > 0 && v > load<f32>(f32at(vv, pos - 1))) {
          store<f32>(f32at(vv, pos), load<f32>(f32at(vv, pos - 1)));
          store<i32>(vi + (<usize>pos << 2), load<i32>(vi + (<usize>(pos - 1) << 2)));
          pos--;
        }
        store<f32>(f32at(vv, pos), v);
        store<i32>(vi + (<usize>pos << 2), cc);
        thr = load<f32>(f32at(vv, k - 1));
      }
    }
  }
}

/** xhat [N, D] = b_dec + Σ_j val[n, j] · W_dec[idx[n, j]]; err [N] = Σ_d (x − xhat)² when x ≠ 0. */
export function sparseDecode(
  idx: usize, val: usize, wDec: usize, bDec: usize, x: usize, xhat: usize, err: usize, N: i32, k: i32, D: i32,
): void {
  const rowBytes = <usize>D << 2;
  for (let n = 0; n < N; n++) {
    const out = xhat + <usize>n * rowBytes;
    memory.copy(out, bDec, rowBytes);
    for (let j = 0; j < k; j++) {
      const v = load<f32>(f32at(val, n * k + j));
      if (v == 0) continue;
      const w = wDec + <usize>load<i32>(idx + (<usize>(n * k + j) << 2)) * rowBytes;
      const vv = f32x4.splat(v);
      for (let c = 0; c < D; c += 4) {
        const o = <usize>c << 2;
        v128.store(out + o, f32x4.add(v128.load(out + o), f32x4.mul(vv, v128.load(w + o))));
      }
    }
    if (x != 0) {
      const xr = x + <usize>n * rowBytes;
      let s = f32x4.splat(0);
      for (let c = 0; c < D; c += 4) {
        const o = <usize>c << 2;
        const d = f32x4.sub(v128.load(xr + o), v128.load(out + o));
        s = f32x4.add(s, f32x4.mul(d, d));
      }
      store<f32>(f32at(err, n), f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3));
    }
  }
}

/**
 * Gradients of scale · Σ_n ‖xhat_n − x_n‖² (scale = 1/N for the mean loss) through the sparse decode, the
 * TopK mask (constant), the ReLU and the encoder (x − b_dec)·W_enc + b_enc. Outputs are overwritten:
 *   e_n = 2·scale·(xhat_n − x_n)                          dB_dec += e_n
 *   dW_dec[i] += z_ni · e_n                               dz_ni = W_dec[i] · e_n
 *   (z_ni > 0)  dB_enc[i] += dz_ni,  dW_encᵀ[i] += dz_ni · (x_n − b_dec),  dB_dec −= dz_ni · W_encᵀ[i]
 * Dictionary rows below `detachBelow` receive no gradient (staircase `detach`: earlier chunks are frozen for
 * this position); biases always do.
 */
export function topkSaeBackward(
  x: usize, bDec: usize, idx: usize, val: usize, xhat: usize, wDec: usize, wEncT: usize,
  dWencT: usize, dBenc: usize, dWdec: usize, dBdec: usize,
  N: i32, k: i32, D: i32, F: i32, scale: f32, detachBelow: i32,
): void {
  const rowBytes = <usize>D << 2;
  memory.fill(dWencT, 0, <usize>(F * D) << 2);
  memory.fill(dWdec, 0, <usize>(F * D) << 2);
  memory.fill(dBenc, 0, <usize>F << 2);
  memory.fill(dBdec, 0, rowBytes);
  const two = f32x4.splat(2 * scale);
  for (let n = 0; n < N; n++) {
    const xr = x + <usize>n * rowBytes;
    const hr = xhat + <usize>n * rowBytes;
    for (let j = 0; j < k; j++) {
      const v = load<f32>(f32at(val, n * k + j));
      if (v <= 0) continue; // ReLU'(0) = 0, and a zero code decodes to nothing
      const i = load<i32>(idx + (<usize>(n * k + j) << 2));
      const wd = wDec + <usize>i * rowBytes;
      // e = 2·scale·(xhat − x), recomputed per latent so it never needs its own buffer
      let dz4 = f32x4.splat(0);
      const vv = f32x4.splat(v);
      const dwd = dWdec + <usize>i * rowBytes;
      const learn = i >= detachBelow;
      for (let c = 0; c < D; c += 4) {
        const o = <usize>c << 2;
        const e = f32x4.mul(two, f32x4.sub(v128.load(hr + o), v128.load(xr + o)));
        dz4 = f32x4.add(dz4, f32x4.mul(v128.load(wd + o), e));
        if (learn) v128.store(dwd + o, f32x4.add(v128.load(dwd + o), f32x4.mul(vv, e)));
      }
      const dz = f32x4.extract_lane(dz4, 0) + f32x4.extract_lane(dz4, 1) + f32x4.extract_lane(dz4, 2) + f32x4.extract_lane(dz4, 3);
      store<f32>(f32at(dBenc, i), load<f32>(f32at(dBenc, i)) + dz);
      const dzz = f32x4.splat(dz);
      const we = wEncT + <usize>i * rowBytes;
      const dwe = dWencT + <usize>i * rowBytes;
      for (let c = 0; c < D; c += 4) {
        const o = <usize>c << 2;
        if (learn) v128.store(dwe + o, f32x4.add(v128.load(dwe + o), f32x4.mul(dzz, f32x4.sub(v128.load(xr + o), v128.load(bDec + o)))));
        v128.store(dBdec + o, f32x4.sub(v128.load(dBdec + o), f32x4.mul(dzz, v128.load(we + o))));
      }
    }
    for (let c = 0; c < D; c += 4) {
      const o = <usize>c << 2;
      v128.store(dBdec + o, f32x4.add(v128.load(dBdec + o), f32x4.mul(two, f32x4.sub(v128.load(hr + o), v128.load(xr + o)))));
    }
  }
}
