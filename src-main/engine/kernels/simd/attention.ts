// AssemblyScript: causal multi-head self-attention on the fused projection layout.
//
// qkv [B, T, 3D] holds q | k | v for every position (head h = columns h·hd … h·hd+hd-1 of each third),
// out [B, T, D] receives the heads concatenated, so the model needs no split / transpose ops around it.
// stats [B, H, T, 2] keeps (row max, 1 / row sum) of the softmax so the backward pass can rebuild P.
// Keys are processed four at a time: four dot products land in one vector, so exp and the softmax
// algebra run on full SIMD lanes.
import { axpy, dot, dot4, expNeg, expNeg1, f32at } from './math';

export function attentionForward(
  qkv: usize, out: usize, stats: usize, scores: usize, B: i32, T: i32, H: i32, hd: i32, scale: f32,
): void {
  const D = H * hd;
  const stride = <usize>(3 * D) << 2;
  const sc = f32x4.splat(scale);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const qBase = f32at(qkv, b * T * 3 * D + h * hd);
      const kBase = qBase + (<usize>D << 2);
      const vBase = kBase + (<usize>D << 2);
      for (let t = 0; t < T; t++) {
        const q = qBase + <usize>t * stride;
        const n4 = (t + 1) & ~3;
        let mx4 = f32x4.splat(-Infinity);
        for (let s = 0; s < n4; s += 4) {
          const d = f32x4.mul(dot4(q, kBase + <usize>s * stride, stride, hd), sc);
          v128.store(f32at(scores, s), d);
          mx4 = f32x4.max(mx4, d);
        }
        let mx = max(max(f32x4.extract_lane(mx4, 0), f32x4.extract_lane(mx4, 1)), max(f32x4.extract_lane(mx4, 2), f32x4.extract_lane(mx4, 3)));
        for (let s = n4; s <= t; s++) {
          const d = dot(q, kBase + <usize>s * stride, hd) * scale;
          store<f32>(f32at(scores, s), d);
          mx = max(mx, d);
        }
        const mm = f32x4.splat(mx);
        let sum4 = f32x4.splat(0);
        for (let s = 0; s < n4; s += 4) {
          const e = expNeg(f32x4.sub(v128.load(f32at(scores, s)), mm));
          v128.store(f32at(scores, s), e);
          sum4 = f32x4.add(sum4, e);
        }
        let sum = f32x4.extract_lane(sum4, 0) + f32x4.extract_lane(sum4, 1) + f32x4.extract_lane(sum4, 2) + f32x4.extract_lane(sum4, 3);
        for (let s = n4; s <= t; s++) {
          const e = expNeg1(load<f32>(f32at(scores, s)) - mx);
          store<f32>(f32at(scores, s), e);
          sum += e;
        }
        const inv: f32 = 1.0 / sum;
        const o = f32at(out, (b * T + t) * D + h * hd);
        if ((hd & 15) == 0) {
          // o = Σ_s p_s·v_s sixteen columns at a time, the accumulator in registers.
          const iv = f32x4.splat(inv);
          for (let c = 0; c < hd; c += 16) {
            const vc = vBase + (<usize>c << 2);
            let o0 = f32x4.splat(0);
            let o1 = f32x4.splat(0);
            let o2 = f32x4.splat(0);
            let o3 = f32x4.splat(0);
            for (let s = 0; s <= t; s++) {
              const p = f32x4.splat(load<f32>(f32at(scores, s)));
              const vr = vc + <usize>s * stride;
              o0 = f32x4.add(o0, f32x4.mul(p, v128.load(vr)));
              o1 = f32x4.add(o1, f32x4.mul(p, v128.load(vr, 16)));
              o2 = f32x4.add(o2, f32x4.mul(p, v128.load(vr, 32)));
              o3 = f32x4.add(o3, f32x4.mul(p, v128.load(vr, 48)));
            }
            const oc = o + (<usize>c << 2);
            v128.store(oc, f32x4.mul(o0, iv));
            v128.store(oc, f32x4.mul(o1, iv), 16);
            v128.store(oc, f32x4.mul(o2, iv), 32);
            v128.store(oc, f32x4.mul(o3, iv), 48);
          }
        } else {
          memory.fill(o, 0, <usize>hd << 2);
          for (let s = 0; s <= t; s++) axpy(o, load<f32>(f32at(scores, s)) * inv, vBase + <usize>s * stride, hd);
        }
        const st = f32at(stats, ((b * H + h) * T + t) * 2);
        store<f32>(st, mx);
        store<f32>(st, inv, 4);
      }
    }
  }
}

/**
 * Backward of attentionForward. dqkv [B, T, 3D] is overwritten. With P rebuilt from stats:
 *   Δ_t = dO_t·O_t;  ds = P ⊙ (dO·Vᵀ − Δ);  dQ = scale·ds·K;  dK = scale·dsᵀ·Q;  dV = Pᵀ·dO.
 * `scratch` holds two rows of T floats (p and ds of the current query row).
 */
export function attentionBackward(
  qkv: usize, out: usize, stats: usize, dout: usize, dqkv: usize, scratch: usize,
  B: i32, T: i32, H: i32, hd: i32, scale: f32,
): void {
  const D = H * hd;
  const stride = <usize>(3 * D) << 2;
  const pRow = scratch;
  const dsRow = scratch + (<usize>(T + 4) << 2);
  const sc = f32x4.splat(scale);
  memory.fill(dqkv, 0, <usize>(B * T * 3 * D) << 2);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const off = b * T * 3 * D + h * hd;
      const qBase = f32at(qkv, off);
      const kBase = qBase + (<usize>D << 2);
      const vBase = kBase + (<usize>D << 2);
      const dqBase = f32at(dqkv, off);
      const dkBase = dqBase + (<usize>D << 2);
      const dvBase = dkBase + (<usize>D << 2);
      for (let t = 0; t < T; t++) {
        const q = qBase + <usize>t * stride;
        const dq = dqBase + <usize>t * stride;
        const dO = f32at(dout, (b * T + t) * D + h * hd);
        const st = f32at(stats, ((b * H + h) * T + t) * 2);
        const mx = load<f32>(st);
        const inv = load<f32>(st, 4);
        const delta = dot(dO, f32at(out, (b * T + t) * D + h * hd), hd);
        const n4 = (t + 1) & ~3;
        const mm = f32x4.splat(mx);
        const iv = f32x4.splat(inv);
        const dl = f32x4.splat(delta);
        for (let s = 0; s < n4; s += 4) {
          const p = f32x4.mul(expNeg(f32x4.sub(f32x4.mul(dot4(q, kBase + <usize>s * stride, stride, hd), sc), mm)), iv);
          const dp = dot4(dO, vBase + <usize>s * stride, stride, hd);
          v128.store(f32at(pRow, s), p);
          v128.store(f32at(dsRow, s), f32x4.mul(f32x4.mul(p, f32x4.sub(dp, dl)), sc));
        }
        for (let s = n4; s <= t; s++) {
          const p = expNeg1(dot(q, kBase + <usize>s * stride, hd) * scale - mx) * inv;
          store<f32>(f32at(pRow, s), p);
          store<f32>(f32at(dsRow, s), p * (dot(dO, vBase + <usize>s * stride, hd) - delta) * scale);
        }
        if ((hd & 15) == 0) {
          // Sixteen columns at a time: dq's chunk accumulates in registers, q's and dO's chunks stay in them.
          for (let c = 0; c < hd; c += 16) {
            const co = <usize>c << 2;
            const q0 = v128.load(q + co);
            const q1 = v128.load(q + co, 16);
            const q2 = v128.load(q + co, 32);
            const q3 = v128.load(q + co, 48);
            const g0 = v128.load(dO + co);
            const g1 = v128.load(dO + co, 16);
            const g2 = v128.load(dO + co, 32);
            const g3 = v128.load(dO + co, 48);
            let a0 = v128.load(dq + co);
            let a1 = v128.load(dq + co, 16);
            let a2 = v128.load(dq + co, 32);
            let a3 = v128.load(dq + co, 48);
            for (let s = 0; s <= t; s++) {
              const sOff = <usize>s * stride + co;
              const ds = f32x4.splat(load<f32>(f32at(dsRow, s)));
              const p = f32x4.splat(load<f32>(f32at(pRow, s)));
              const kr = kBase + sOff;
              a0 = f32x4.add(a0, f32x4.mul(ds, v128.load(kr)));
              a1 = f32x4.add(a1, f32x4.mul(ds, v128.load(kr, 16)));
              a2 = f32x4.add(a2, f32x4.mul(ds, v128.load(kr, 32)));
              a3 = f32x4.add(a3, f32x4.mul(ds, v128.load(kr, 48)));
              const dk = dkBase + sOff;
              v128.store(dk, f32x4.add(v128.load(dk), f32x4.mul(ds, q0)));
              v128.store(dk, f32x4.add(v128.load(dk, 16), f32x4.mul(ds, q1)), 16);
              v128.store(dk, f32x4.add(v128.load(dk, 32), f32x4.mul(ds, q2)), 32);
              v128.store(dk, f32x4.add(v128.load(dk, 48), f32x4.mul(ds, q3)), 48);
              const dv = dvBase + sOff;
              v128.store(dv, f32x4.add(v128.load(dv), f32x4.mul(p, g0)));
              v128.store(dv, f32x4.add(v128.load(dv, 16), f32x4.mul(p, g1)), 16);
              v128.store(dv, f32x4.add(v128.load(dv, 32), f32x4.mul(p, g2)), 32);
              v128.store(dv, f32x4.add(v128.load(dv, 48), f32x4.mul(p, g3)), 48);
            }
            v128.store(dq + co, a0);
            v128.store(dq + co, a1, 16);
            v128.store(dq + co, a2, 32);
            v128.store(dq + co, a3, 48);
          }
        } else {
          for (let s = 0; s <= t; s++) {
            const sOff = <usize>s * stride;
            const ds = load<f32>(f32at(dsRow, s));
            axpy(dq, ds, kBase + sOff, hd);
            axpy(dkBase + sOff, ds, q, hd);
            axpy(dvBase + sOff, load<f32>(f32at(pRow, s)), dO, hd);
          }
        }
      }
    }
  }
}
