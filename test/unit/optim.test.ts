/**
 * Optimiser pieces (SPEC §1.2): the warmup + cosine schedule, AdamW with decoupled weight decay (PyTorch
 * semantics) written out by hand, weight decay only where configured, global-norm clipping, and the optimiser
 * state round trip that resuming relies on. The fused SIMD step gives the composite ops' exact bits.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import { setKernelMode, type KernelMode } from '../../src-main/engine/kernels/ops.ts';
import { AdamW, cosineLr, decayMatricesOnly, globalNorm } from '../../src-main/engine/optim.ts';
import { TestRng } from './lm.helpers.ts';

beforeAll(async () => {
  await initBackend();
});

describe('cosineLr (warmup 1000, max 10000, lr 1e-3, min 1e-5)', () => {
  const lr = (step: number) => cosineLr(step, 1e-3, 1e-5, 1000, 10_000);

  it('warms up linearly from step 1', () => {
    expect(lr(1)).toBeCloseTo(1e-6, 15); // 1e-3 · 1/1000
    expect(lr(500)).toBeCloseTo(5e-4, 15); // 1e-3 · 500/1000
    expect(lr(1000)).toBeCloseTo(1e-3, 15); // end of warmup: the peak
  });

  it('follows the cosine from the peak to the minimum', () => {
    // lr = min + ½(1 + cos(π·(step − 1000)/9000))·(1e-3 − 1e-5)
    // step 5500: fraction ½, cos(π/2) = 0 → 1e-5 + ½·9.9e-4 = 5.05e-4
    expect(lr(5500)).toBeCloseTo(5.05e-4, 15);
    // step 3250: fraction ¼, cos(π/4) = 0.7071067811865476 → 1e-5 + ½·1.7071067811865476·9.9e-4
    expect(lr(3250)).toBeCloseTo(0.000855017856687341, 15);
    // step 7750: fraction ¾, cos(3π/4) = −0.7071067811865476 → 1e-5 + ½·0.2928932188134524·9.9e-4
    expect(lr(7750)).toBeCloseTo(0.000154982143312659, 15);
    expect(lr(10_000)).toBeCloseTo(1e-5, 15);
    expect(lr(12_000)).toBe(1e-5); // past max_steps: stays at the minimum
  });

  it('is continuous at the warmup end and decreasing after it', () => {
    expect(Math.abs(lr(1001) - lr(1000))).toBeLessThan(1e-9);
    for (let s = 1001; s <= 10_000; s += 7) expect(lr(s)).toBeLessThanOrEqual(lr(s - 1));
  });

  it('without warmup starts at (almost) the peak', () => {
    // step 1 of 100, warmup 0: fraction 1/100 → 1e-5 + ½(1 + cos(π/100))·9.9e-4
    expect(cosineLr(1, 1e-3, 1e-5, 0, 100)).toBeCloseTo(
      1e-5 + 0.5 * (1 + Math.cos(Math.PI / 100)) * 9.9e-4,
      15,
    );
  });
});

describe('AdamW', () => {
  const config = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: () => 0.1 };

  it('one and two steps on a 2-element parameter match the update written out by hand', async () => {
    const p = tf.variable(tf.tensor1d([1, -2]));
    const opt = new AdamW({ p }, config);
    // Step 1, g = [0.5, −1], lr 0.1, wd 0.1:
    //   m = 0.1·g = [0.05, −0.1], v = 0.05·g² = [0.0125, 0.05]; m̂ = m/(1 − 0.9) = g, v̂ = v/(1 − 0.95) = g²
    //   p ← p·(1 − 0.1·0.1) = [0.99, −1.98];  p ← p − 0.1·m̂/(√v̂ + 1e-8) = [0.99 − 0.1·0.99999998, −1.98 + 0.1·0.99999999]
    //     = [0.890000002, −1.880000001]
    const n1 = await opt.apply({ p: tf.tensor1d([0.5, -1]) }, 0.1, 1e9);
    expect(n1).toBeCloseTo(Math.sqrt(0.25 + 1), 6);
    const p1 = Array.from(p.dataSync());
    expect(p1[0]).toBeCloseTo(0.890000002, 6);
    expect(p1[1]).toBeCloseTo(-1.880000001, 6);
    expect(Array.from(opt.m.p.dataSync())).toEqual(
      [Math.fround(0.05), Math.fround(-0.1)].map((x) => expect.closeTo(x, 8)),
    );
    // Step 2, g = [0.1, 0.3]:
    //   m = 0.9·[0.05, −0.1] + 0.1·[0.1, 0.3] = [0.055, −0.06];  v = 0.95·[0.0125, 0.05] + 0.05·[0.01, 0.09] = [0.012375, 0.052]
    //   bias corrections 1 − 0.9² = 0.19 and 1 − 0.95² = 0.0975: m̂ = [0.289473684, −0.315789474], v̂ = [0.126923077, 0.533333333]
    //   m̂/(√v̂ + eps) = [0.8125288317, −0.4324125395]
    //   p ← p·0.99 − 0.1·that = [0.8811 − 0.08125288, −1.8612 + 0.04324125] = [0.7998471188, −1.8179587470]
    await opt.apply({ p: tf.tensor1d([0.1, 0.3]) }, 0.1, 1e9);
    const p2 = Array.from(p.dataSync());
    expect(p2[0]).toBeCloseTo(0.7998471188087057, 6);
    expect(p2[1]).toBeCloseTo(-1.8179587470422238, 6);
    expect(Array.from(opt.v.p.dataSync())[0]).toBeCloseTo(0.012375, 8);
    expect(opt.step).toBe(2);
    opt.dispose();
    p.dispose();
  });

  it('decays only where configured: decayMatricesOnly spares vectors and scalars', async () => {
    // The same values and gradients as a matrix [1, 2], a vector [2] and a scalar; lr 0.1, wd 0.1, first step:
    //   matrix: p·0.99 − 0.1·sign(g)·(1 − 2e-8)  → [0.89, −1.88]
    //   vector: p − 0.1·sign(g)                  → [0.9, −1.9]
    const params = {
      w: tf.variable(tf.tensor2d([[1, -2]])),
      b: tf.variable(tf.tensor1d([1, -2])),
      a: tf.variable(tf.scalar(1)),
    };
    const opt = new AdamW(params, { ...config, weightDecay: decayMatricesOnly(0.1) });
    await opt.apply({ w: tf.tensor2d([[0.5, -1]]), b: tf.tensor1d([0.5, -1]), a: tf.scalar(0.5) }, 0.1, 1e9);
    const w = Array.from(params.w.dataSync());
    const b = Array.from(params.b.dataSync());
    expect(w[0]).toBeCloseTo(0.89, 6);
    expect(w[1]).toBeCloseTo(-1.88, 6);
    expect(b[0]).toBeCloseTo(0.9, 6);
    expect(b[1]).toBeCloseTo(-1.9, 6);
    expect(params.a.dataSync()[0]).toBeCloseTo(0.9, 6);
    // A per-name rule: decay nothing but 'b'.
    const q = { w: tf.variable(tf.tensor2d([[1, -2]])), b: tf.variable(tf.tensor1d([1, -2])) };
    const opt2 = new AdamW(q, { ...config, weightDecay: (name) => (name === 'b' ? 0.1 : 0) });
    await opt2.apply({ w: tf.tensor2d([[0.5, -1]]), b: tf.tensor1d([0.5, -1]) }, 0.1, 1e9);
    expect(q.w.dataSync()[0]).toBeCloseTo(0.9, 6);
    expect(q.b.dataSync()[0]).toBeCloseTo(0.89, 6);
    opt.dispose();
    opt2.dispose();
    tf.dispose([...Object.values(params), ...Object.values(q)]);
  });

  it('clips the global gradient norm: norm 10 with clip 1 is scaled to norm 1 and 10 is returned', async () => {
    // Two tensors g_a = [6, 0], g_b = [0, 8]: global norm √(36 + 64) = 10. Clipped: [0.6, 0], [0, 0.8] (norm 1, up to
    // the 1e-6 of torch's clip_grad_norm_: scale 1/(10 + 1e-6)). The first moment after one step is 0.1·g_clipped.
    const params = { a: tf.variable(tf.zeros([2])), b: tf.variable(tf.zeros([2])) };
    const opt = new AdamW(params, { ...config, weightDecay: () => 0 });
    const norm = await opt.apply({ a: tf.tensor1d([6, 0]), b: tf.tensor1d([0, 8]) }, 0.01, 1);
    expect(norm).toBeCloseTo(10, 5);
    const ma = Array.from(opt.m.a.dataSync()).map((x) => x / 0.1);
    const mb = Array.from(opt.m.b.dataSync()).map((x) => x / 0.1);
    expect(ma[0]).toBeCloseTo(0.6, 6);
    expect(mb[1]).toBeCloseTo(0.8, 6);
    expect(Math.hypot(...ma, ...mb)).toBeCloseTo(1, 6);
    // The second moment sees the clipped gradient too: 0.05·[0.36, 0.64].
    expect(opt.v.a.dataSync()[0]).toBeCloseTo(0.05 * 0.36, 7);
    // Below the threshold nothing is scaled: norm 0.5 with clip 1 keeps g.
    const opt2 = new AdamW(params, { ...config, weightDecay: () => 0 });
    expect(await opt2.apply({ a: tf.tensor1d([0.3, 0]), b: tf.tensor1d([0, 0.4]) }, 0.01, 1)).toBeCloseTo(
      0.5,
      6,
    );
    expect(opt2.m.a.dataSync()[0]).toBeCloseTo(0.03, 7);
    expect(opt2.m.b.dataSync()[1]).toBeCloseTo(0.04, 7);
    opt.dispose();
    opt2.dispose();
    tf.dispose(Object.values(params));
  });

  it('creating, stepping and disposing an optimiser leaves no tensors behind', async () => {
    const params = { w: tf.variable(tf.ones([3, 2])), b: tf.variable(tf.zeros([2])) };
    const before = tf.memory().numTensors;
    const opt = new AdamW(params, { ...config, weightDecay: decayMatricesOnly(0.1) });
    // two moment variables per parameter, nothing else
    expect(tf.memory().numTensors).toBe(before + 4);
    const grads = { w: tf.fill([3, 2], 0.5), b: tf.ones([2]) };
    await opt.apply(grads, 0.01, 1);
    tf.dispose(Object.values(grads));
    expect(tf.memory().numTensors).toBe(before + 4);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(Object.values(params));
  });

  it('globalNorm is the L2 norm over all tensors together', async () => {
    const ts = [tf.tensor1d([3, 4]), tf.tensor2d([[12]]), tf.zeros([5])];
    // √(3² + 4² + 12²) = 13
    expect(await globalNorm(ts.slice(0, 2))).toBeCloseTo(13, 5);
    expect(await globalNorm(ts.slice(2))).toBe(0);
    tf.dispose(ts);
  });

  it('a state saved after k steps and loaded into a fresh optimiser continues exactly like the original', async () => {
    const grads = [
      [0.5, -1, 0.25],
      [0.1, 0.3, -0.7],
      [-0.2, 0.05, 0.9],
    ];
    const start = [1, -2, 0.5];
    const a = { w: tf.variable(tf.tensor2d([start])) };
    const optA = new AdamW(a, { ...config, weightDecay: decayMatricesOnly(0.1) });
    for (const g of grads) await optA.apply({ w: tf.tensor2d([g]) }, 0.05, 1);

    const b = { w: tf.variable(tf.tensor2d([start])) };
    const optB = new AdamW(b, { ...config, weightDecay: decayMatricesOnly(0.1) });
    await optB.apply({ w: tf.tensor2d([grads[0]]) }, 0.05, 1);
    // "Resume": a new optimiser and a new variable from B's saved values.
    const saved = Object.fromEntries(Object.entries(optB.stateTensors()).map(([k, t]) => [k, t.clone()]));
    const c = { w: tf.variable(b.w.clone()) };
    const optC = new AdamW(c, { ...config, weightDecay: decayMatricesOnly(0.1) });
    optC.loadState(optB.step, saved);
    for (const g of grads.slice(1)) await optC.apply({ w: tf.tensor2d([g]) }, 0.05, 1);
    expect(Array.from(c.w.dataSync())).toEqual(Array.from(a.w.dataSync()));
    expect(optC.step).toBe(3);
    expect(() => optC.loadState(1, {})).toThrow(/missing the moments of w/);
    [optA, optB, optC].forEach((o) => o.dispose());
    tf.dispose([...Object.values(saved), a.w, b.w, c.w]);
  });
});

describe('AdamW, fused SIMD step against the composite tfjs ops', () => {
  /** Parameters, moments after `steps` updates with clipping and decay, as float32 bit patterns. */
  async function run(mode: KernelMode): Promise<Uint32Array[]> {
    setKernelMode(mode);
    try {
      const rng = new TestRng(5);
      // A matrix (decayed), a vector whose length is no multiple of 4 (the kernel's scalar tail), a scalar.
      const params = {
        w: tf.variable(tf.tensor2d(rng.normals(6 * 10), [6, 10])),
        b: tf.variable(tf.tensor1d(rng.normals(7))),
        s: tf.variable(tf.scalar(rng.normals(1)[0])),
      };
      const opt = new AdamW(params, {
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-8,
        weightDecay: decayMatricesOnly(0.1),
      });
      for (let step = 1; step <= 6; step++) {
        // Large gradients on odd steps so that clipping (clip 1) is active on some steps and not others.
        const big = step % 2 === 1 ? 30 : 0.05;
        const grads = Object.fromEntries(
          Object.entries(params).map(([n, p]) => [n, tf.tensor(rng.normals(p.size, big), p.shape)]),
        );
        await opt.apply(grads, cosineLr(step, 3e-3, 1e-4, 2, 6), 1.0);
        tf.dispose(Object.values(grads));
      }
      const bits = [...Object.values(params), ...Object.values(opt.m), ...Object.values(opt.v)].map(
        (t) => new Uint32Array(Float32Array.from(t.dataSync()).buffer),
      );
      opt.dispose();
      tf.dispose(Object.values(params));
      return bits;
    } finally {
      setKernelMode(null);
    }
  }

  it('parameters and both moments are bit-identical after six steps with clipping and decay', async () => {
    const fused = await run('simd');
    const composite = await run('tfjs');
    expect(fused.length).toBe(9);
    fused.forEach((f, i) => expect(Array.from(f), `tensor ${i}`).toEqual(Array.from(composite[i])));
  });
});
