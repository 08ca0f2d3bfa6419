// AssemblyScript: fused row-wise and element-wise kernels (GELU, LayerNorm, DyT, softmax cross-entropy,
// embedding lookup, 2-D transpose). Buffers are f32 unless noted; n counts elements.
import { expNeg, f32at, hsum, sigmoid4 } from './math';

// gelu_tanh(u) = ½u(1 + tanh(c(u + 0.044715u³))) = u·σ(2c(u + 0.044715u³)),  c = √(2/π)
const GELU_2C: f32 = 1.5957691216057308;
const GELU_A: f32 = 0.044715;

export function geluForward(x: usize, y: usize, n: i32): void {
  const c2 = f32x4.splat(GELU_2C);
  const a = f32x4.splat(GELU_A);
  const one = f32x4.splat(1.0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const u = v128.load(f32at(x, i));
    const inner = f32x4.mul(c2, f32x4.mul(u, f32x4.add(one, f32x4.mul(a, f32x4.mul(u, u)))));
    v128.store(f32at(y, i), f32x4.mul(u, sigmoid4(inner)));
  }
  for (; i < n; i++) {
    const u = load<f32>(f32at(x, i));
    const s = f32x4.extract_lane(sigmoid4(f32x4.splat(GELU_2C * u * (1 + GELU_A * u * u))), 0);
    store<f32>(f32at(y, i), u * s);
  }
}

/** dx = dy · gelu′(u), gelu′(u) = σ + u·σ(1−σ)·2c(1 + 3·0.044715u²) with σ = σ(2c(u + 0.044715u³)). */
export function geluBackward(x: usize, dy: usize, dx: usize, n: i32): void {
  const c2 = f32x4.splat(GELU_2C);
  const a = f32x4.splat(GELU_A);
  const a3 = f32x4.splat(3 * GELU_A);
  const one = f32x4.splat(1.0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const u = v128.load(f32at(x, i));
    const u2 = f32x4.mul(u, u);
    const s = sigmoid4(f32x4.mul(c2, f32x4.mul(u, f32x4.add(one, f32x4.mul(a, u2)))));
    const ds = f32x4.mul(f32x4.mul(s, f32x4.sub(one, s)), f32x4.mul(c2, f32x4.add(one, f32x4.mul(a3, u2))));
    const g = f32x4.add(s, f32x4.mul(u, ds));
    v128.store(f32at(dx, i), f32x4.mul(v128.load(f32at(dy, i)), g));
  }
  for (; i < n; i++) {
    const u = load<f32>(f32at(x, i));
    const s = f32x4.extract_lane(sigmoid4(f32x4.splat(GELU_2C * u * (1 + GELU_A * u * u))), 0);
    const g = s + u * s * (1 - s) * GELU_2C * (1 + 3 * GELU_A * u * u);
    store<f32>(f32at(dx, i), load<f32>(f32at(dy, i)) * g);
  }
}

/** y = (x − μ)/√(σ² + eps)·γ + β per row of D (biased variance); stats [N, 2] = (μ, 1/√(σ²+eps)). */
export function layerNormForward(x: usize, gamma: usize, beta: usize, y: usize, stats: usize, N: i32, D: i32, eps: f32): void {
  const invD: f32 = 1.0 / <f32>D;
  for (let r = 0; r < N; r++) {
    const xr = f32at(x, r * D);
    const yr = f32at(y, r * D);
    let s = f32x4.splat(0);
    for (let c = 0; c < D; c += 4) s = f32x4.add(s, v128.load(f32at(xr, c)));
    const mean = hsum(s) * invD;
    const mm = f32x4.splat(mean);
    let v = f32x4.splat(0);
    for (let c = 0; c < D; c += 4) {
      const d = f32x4.sub(v128.load(f32at(xr, c)), mm);
      v = f32x4.add(v, f32x4.mul(d, d));
    }
    const rstd: f32 = 1.0 / Mathf.sqrt(hsum(v) * invD + eps);
    const rr = f32x4.splat(rstd);
    for (let c = 0; c < D; c += 4) {
      const xh = f32x4.mul(f32x4.sub(v128.load(f32at(xr, c)), mm), rr);
      v128.store(f32at(yr, c), f32x4.add(f32x4.mul(xh, v128.load(f32at(gamma, c))), v128.load(f32at(beta, c))));
    }
    store<f32>(f32at(stats, 2 * r), mean);
    store<f32>(f32at(stats, 2 * r + 1), rstd);
  }
}

/**
 * LayerNorm backward: x̂ = (x−μ)·r, g = dy·γ, dx = r·(g − mean(g) − x̂·mean(g·x̂)),
 * dγ = Σ_rows dy·x̂, dβ = Σ_rows dy (dgamma, dbeta overwritten).
 */
export function layerNormBackward(
  x: usize, gamma: usize, stats: usize, dy: usize, dx: usize, dgamma: usize, dbeta: usize, N: i32, D: i32,
): void {
  const invD: f32 = 1.0 / <f32>D;
  memory.fill(dgamma, 0, <usize>D << 2);
  memory.fill(dbeta, 0, <usize>D << 2);
  for (let r = 0; r < N; r++) {
    const xr = f32at(x, r * D);
    const dyr = f32at(dy, r * D);
    const dxr = f32at(dx, r * D);
    const mm = f32x4.splat(load<f32>(f32at(stats, 2 * r)));
    const rstd = load<f32>(f32at(stats, 2 * r + 1));
    const rr = f32x4.splat(rstd);
    let sg = f32x4.splat(0);
    let sgx = f32x4.splat(0);
    for (let c = 0; c < D; c += 4) {
      const xh = f32x4.mul(f32x4.sub(v128.load(f32at(xr, c)), mm), rr);
      const d = v128.load(f32at(dyr, c));
      const g = f32x4.mul(d, v128.load(f32at(gamma, c)));
      sg = f32x4.add(sg, g);
      sgx = f32x4.add(sgx, f32x4.mul(g, xh));
      v128.store(f32at(dgamma, c), f32x4.add(v128.load(f32at(dgamma, c)), f32x4.mul(d, xh)));
      v128.store(f32at(dbeta, c), f32x4.add(v128.load(f32at(dbeta, c)), d));
    }
    const mg = f32x4.splat(hsum(sg) * invD);
    const mgx = f32x4.splat(hsum(sgx) * invD);
    for (let c = 0; c < D; c += 4) {
      const xh = f32x4.mul(f32x4.sub(v128.load(f32at(xr, c)), mm), rr);
      const g = f32x4.mul(v128.load(f32at(dyr, c)), v128.load(f32at(gamma, c)));
      v128.store(f32at(dxr, c), f32x4.mul(rr, f32x4.sub(f32x4.sub(g, mg), f32x4.mul(xh, mgx))));
    }
  }
}

/**
 * Softmax cross-entropy pieces for logits [N, V] and int32 targets [N]: rowStats [N, 3] = (max, Σexp(l−max),
 * l[target]) so the caller forms loss = max + log Σ − l[target]; probs [N, V] = softmax (for the gradient).
 */
export function softmaxXentForward(logits: usize, targets: usize, rowStats: usize, probs: usize, N: i32, V: i32): void {
  for (let r = 0; r < N; r++) {
    const lr = f32at(logits, r * V);
    const pr = f32at(probs, r * V);
    let mx: f32 = -Infinity;
    for (let c = 0; c < V; c++) mx = max(mx, load<f32>(f32at(lr, c)));
    let sum: f32 = 0;
    const mm = f32x4.splat(mx);
    let c = 0;
    for (; c + 4 <= V; c += 4) {
      const e = f32x4.sub(v128.load(f32at(lr, c)), mm);
      const ex = expNeg(e);
      v128.store(f32at(pr, c), ex);
      sum += hsum(ex);
    }
    for (; c < V; c++) {
      const ex = f32x4.extract_lane(expNeg(f32x4.splat(load<f32>(f32at(lr, c)) - mx)), 0);
      store<f32>(f32at(pr, c), ex);
      sum += ex;
    }
    const inv = f32x4.splat(1.0 / sum);
    c = 0;
    for (; c + 4 <= V; c += 4) v128.store(f32at(pr, c), f32x4.mul(v128.load(f32at(pr, c)), inv));
    for (; c < V; c++) store<f32>(f32at(pr, c), load<f32>(f32at(pr, c)) / sum);
    const tgt = load<i32>(targets + (<usize>r << 2));
    store<f32>(f32at(rowStats, 3 * r), mx);
    store<f32>(f32at(rowStats, 3 * r + 1), sum);
    store<f32>(f32at(rowStats, 3 * r + 2), load<f32>(f32at(lr, tgt)));
  }
}

/** dlogits = scale·(probs − onehot(target)) for mean cross-entropy (scale = upstream grad / N). */
export function softmaxXentBackward(probs: usize, targets: usize, dlogits: usize, N: i32, V: i32, scale: f32): void {
  const ss = f32x4.splat(scale);
  for (let r = 0; r < N; r++) {
    const pr = f32at(probs, r * V);
    const dr = f32at(dlogits, r * V);
    let c = 0;
    for (; c + 4 <= V; c += 4) v128.store(f32at(dr, c), f32x4.mul(v128.load(f32at(pr, c)), ss));
    for (; c < V; c++) store<f32>(f32at(dr, c), load<f32>(f32at(pr, c)) * scale);
    const tgt = load<i32>(targets + (<usize>r << 2));
    store<f32>(f32at(dr, tgt), load<f32>(f32at(dr, tgt)) - scale);
  }
}

/** y[n, :] = table[ids[n], :] (ids int32). */
export function embeddingForward(table: usize, ids: usize, y: usize, N: i32, D: i32): void {
  const rowBytes = <usize>D << 2;
  for (let r = 0; r < N; r++) {
    const id = load<i32>(ids + (<usize>r << 2));
    memory.copy(y + <usize>r * rowBytes, table + <usize>id * rowBytes, rowBytes);
  }
}

/** dtable [V, D] (overwritten) = Σ_n onehot(ids[n]) ⊗ dy[n, :]. */
export function embeddingBackward(ids: usize, dy: usize, dtable: usize, N: i32, V: i32, D: i32): void {
  memory.fill(dtable, 0, <usize>(V * D) << 2);
  for (let r = 0; r < N; r++) {
    const id = load<i32>(ids + (<usize>r << 2));
    const dst = f32at(dtable, id * D);
    const src = f32at(dy, r * D);
    for (let c = 0; c < D; c += 4) {
      const o = <usize>c << 2;
      v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
    }
  }
}

/** y [C, R] = xᵀ for x [R, C]: 4×4 blocks transposed in registers, scalar edges. */
export function transpose2d(x: usize, y: usize, R: i32, C: i32): void {
  const R4 = R & ~3;
  const C4 = C & ~3;
  for (let r = 0; r < R4; r += 4) {
    for (let c = 0; c < C4; c += 4) {
      const a0 = v128.load(f32at(x, r * C + c));
      const a1 = v128.load(f32at(x, (r + 1) * C + c));
      const a2 = v128.load(f32at(x, (r + 2) * C + c));
      const a3 = v128.load(f32at(x, (r + 3) * C + c));
      const t0 = v128.shuffle<f32>(a0, a1, 0, 4, 1, 5);
      const t1 = v128.shuffle<f32>(a0, a1, 2, 6, 3, 7);
      const t2 = v128.shuffle<f32>(a2, a3, 0, 4, 1, 5);
      const t3 = v128.shuffle<f32>(a2, a3, 2, 6, 3, 7);
      v128.store(f32at(y, c * R + r), v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
      v128.store(f32at(y, (c + 1) * R + r), v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
      v128.store(f32at(y, (c + 2) * R + r), v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
      v128.store(f32at(y, (c + 3) * R + r), v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
    }
  }
  for (let r = 0; r < R; r++) {
    const cStart = r < R4 ? C4 : 0;
    for (let c = cStart; c < C; c++) store<f32>(f32at(y, c * R + r), load<f32>(f32at(x, r * C + c)));
  }
}

/** y [C] = Σ_rows x [N, C] (a bias gradient). */
export function columnSum(x: usize, y: usize, N: i32, C: i32): void {
  memory.fill(y, 0, <usize>C << 2);
  const C4 = C & ~3;
  for (let r = 0; r < N; r++) {
    const xr = f32at(x, r * C);
    for (let c = 0; c < C4; c += 4) v128.store(f32at(y, c), f32x4.add(v128.load(f32at(y, c)), v128.load(f32at(xr, c))));
    for (let c = C4; c < C; c++) store<f32>(f32at(y, c), load<f32>(f32at(y, c)) + load<f32>(f32at(xr, c)));
  }
}
