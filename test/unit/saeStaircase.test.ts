/**
 * Staircase SAEs (SPEC §3.2) as SaeSet builds them: widths and parameter counts by arithmetic, slices that
 * alias one shared dictionary (shown by a training step driven by position 0 alone and read back through
 * position 4's view), per-position biases, the detach / untied / tied-all / shared-bias variants, the ffblock
 * staircase per layer, and the setups that must be rejected.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import type { SaeArch } from '../../src-shared/sae.ts';
import { initBackend } from '../../src-main/engine/backend.ts';
import { AdamW } from '../../src-main/engine/optim.ts';
import { SaeSet, type SaeSetSpec } from '../../src-main/engine/sae/saeSet.ts';
import { saeTrainStep } from '../../src-main/engine/sae/train.ts';
import { TestRng } from './lm.helpers.ts';
import { preActivations64, selectionMargin, tinyGpt, topkSae64 } from './sae.helpers.ts';

beforeAll(async () => {
  await initBackend();
});

// The toy model of SPEC §1.1: d_model 64, 4 layers; chunk n = 512, k = 10.
const D = 64;
const n = 512;
const toy = (arch: SaeArch, setup: SaeSetSpec['setup'] = 'tblock'): SaeSetSpec => ({
  arch,
  setup,
  width: n,
  k: 10,
  dModel: D,
  nLayer: 4,
  seed: 3,
});

const sets: SaeSet[] = [];
const make = (spec: SaeSetSpec) => {
  const s = new SaeSet(spec);
  sets.push(s);
  return s;
};
afterEach(() => {
  for (const s of sets.splice(0)) s.dispose();
});

const TBLOCK_HOOKS = [
  'blocks.0.hook_resid_pre',
  'blocks.1.hook_resid_pre',
  'blocks.2.hook_resid_pre',
  'blocks.3.hook_resid_pre',
  'blocks.3.hook_resid_post',
];

describe('tblock staircase: shapes and parameter count', () => {
  it('has widths 512 … 2560 over one dictionary of 2560 latents, with 335,680 parameters', () => {
    const set = make(toy('staircase'));
    expect(set.views.map((v) => v.hook)).toEqual(TBLOCK_HOOKS);
    expect(set.views.map((v) => v.width)).toEqual([512, 1024, 1536, 2048, 2560]);
    expect(set.views.map((v) => v.position)).toEqual([0, 1, 2, 3, 4]);
    expect(set.views.every((v) => v.chunk === n && v.detachBelow === 0 && v.k === 10)).toBe(true);
    expect(set.dictionaries).toHaveLength(1);
    expect(set.dictionaries[0].wEnc.shape).toEqual([D, 5 * n]);
    expect(set.dictionaries[0].wDec.shape).toEqual([5 * n, D]);
    expect(set.views.every((v) => v.dict === set.dictionaries[0])).toBe(true);
    expect(set.groups).toEqual([{ name: 'staircase', hooks: TBLOCK_HOOKS }]);
    // W_enc + W_dec of the shared dictionary: 2 · 64 · 2560 = 327,680
    // b_enc per position: 512 · (1 + 2 + 3 + 4 + 5) = 7,680;  b_dec per position: 5 · 64 = 320
    expect(set.numParams()).toBe(2 * 64 * 2560 + 512 * 15 + 5 * 64);
    expect(set.numParams()).toBe(335_680);
  });

  it('five TopK ×8 SAEs have 330,560 parameters', () => {
    const set = make(toy('topk'));
    // Each: 2 · 64 · 512 (W_enc, W_dec) + 512 (b_enc) + 64 (b_dec) = 66,112; five of them.
    expect(set.numParams()).toBe(5 * (2 * 64 * 512 + 512 + 64));
    expect(set.numParams()).toBe(330_560);
    expect(set.dictionaries).toHaveLength(5);
    expect(set.views.map((v) => v.width)).toEqual([512, 512, 512, 512, 512]);
  });

  it('biases are per position: b_enc of size 512·(p+1) and b_dec, all distinct variables', () => {
    const set = make(toy('staircase'));
    expect(set.views.map((v) => v.bEnc.shape)).toEqual([[512], [1024], [1536], [2048], [2560]]);
    expect(set.views.every((v) => v.bDec.shape[0] === D)).toBe(true);
    expect(new Set(set.views.map((v) => v.bEnc)).size).toBe(5);
    expect(new Set(set.views.map((v) => v.bDec)).size).toBe(5);
    expect(Object.keys(set.params()).sort()).toEqual(
      [
        'staircase.W_enc',
        'staircase.W_dec',
        ...TBLOCK_HOOKS.flatMap((h) => [`${h}.b_enc`, `${h}.b_dec`]),
      ].sort(),
    );
  });

  it('weights(view) slices the dictionary prefix at every call', () => {
    const set = make(toy('staircase'));
    const v2 = set.view('blocks.2.hook_resid_pre');
    const [encAll, decAll] = [set.dictionaries[0].wEnc.dataSync(), set.dictionaries[0].wDec.dataSync()];
    const w = set.weights(v2);
    expect(w.wEnc.shape).toEqual([D, 1536]);
    expect(w.wDec.shape).toEqual([1536, D]);
    // W_enc [D, N] row-major: the prefix keeps the first 1536 entries of each row; W_dec the first 1536 rows.
    const enc = w.wEnc.dataSync();
    for (let d = 0; d < D; d++)
      for (let f = 0; f < 1536; f += 97) expect(enc[d * 1536 + f]).toBe(encAll[d * 2560 + f]);
    expect(Array.from(w.wDec.dataSync())).toEqual(Array.from(decAll.subarray(0, 1536 * D)));
    tf.dispose([w.wEnc, w.wDec]);
    // After the dictionary changes, a new call sees the change (no cached copy).
    set.dictionaries[0].wDec.assign(tf.fill([2560, D], 0.5));
    const w2 = set.weights(v2);
    expect(w2.wDec.dataSync().every((x) => x === 0.5)).toBe(true);
    tf.dispose([w2.wEnc, w2.wDec]);
  });
});

describe('one training step shows the slices alias one shared dictionary', () => {
  const rng = new TestRng(19); // a seed whose top-k decisions sit ≥ 1e-4 from flipping (asserted below)
  const N = 12;
  const x0 = rng.normals(N * D);
  const lr = 1e-3;

  /**
   * One saeTrainStep where only position `pos` sees non-zero activations. The others see x = 0 with zero
   * biases: pre = relu(0) = 0, no active latent, x̂ = 0, so their loss and every gradient they produce is
   * exactly 0. AdamW's first step moves a parameter by lr·g/(|g| + ε) ≈ lr·sign(g), and leaves it untouched
   * where g = 0 (m = v = 0). Returns the dictionary and biases before and after.
   */
  async function stepAt(arch: SaeArch, pos: number) {
    const set = make(toy(arch));
    const lm = tinyGpt({ dModel: D, nLayer: 4 }); // only read by the JSAE penalty
    const opt = new AdamW(set.params(), { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: () => 0 });
    const acts = Object.fromEntries(
      set.views.map((v, p) => [v.hook, p === pos ? tf.tensor2d(x0, [N, D]) : tf.zeros([N, D])]),
    ) as Record<string, tf.Tensor2D>;
    const snapshot = () => ({
      wEnc: Float32Array.from(set.dictionaries[0].wEnc.dataSync()),
      wDec: Float32Array.from(set.dictionaries[0].wDec.dataSync()),
      bEnc: set.views.map((v) => Float32Array.from(v.bEnc.dataSync())),
      bDec: set.views.map((v) => Float32Array.from(v.bDec.dataSync())),
    });
    const before = snapshot();
    const losses: Record<string, number> = {};
    const stats = await saeTrainStep(
      {
        lm,
        set,
        opt,
        config: { arch, lambda: 0, lambdaNorm: 'mean', schedule: { gradClip: 1 } },
      },
      acts,
      lr,
      () => 0,
    );
    Object.assign(losses, stats.losses);
    const after = snapshot();
    tf.dispose(Object.values(acts));
    opt.dispose();
    lm.dispose();
    return { set, before, after, losses };
  }

  /** Latents whose W_enc column (or W_dec row) changed, among [from, to). */
  const changedLatents = (
    a: Float32Array,
    b: Float32Array,
    layout: 'enc' | 'dec',
    from: number,
    to: number,
  ) => {
    const N5 = 5 * n;
    const out: number[] = [];
    for (let f = from; f < to; f++) {
      let changed = false;
      for (let d = 0; d < D && !changed; d++) {
        const i = layout === 'enc' ? d * N5 + f : f * D + d;
        changed = a[i] !== b[i];
      }
      if (changed) out.push(f);
    }
    return out;
  };

  /** Indices in [from, to) where two vectors differ. */
  const changedEntries = (a: Float32Array, b: Float32Array, from: number, to: number) =>
    Array.from({ length: to - from }, (_, i) => from + i).filter((i) => a[i] !== b[i]);

  it('position 0 alone trains; position 4 sees the change in its chunk 0 and nothing else moves', async () => {
    const { set, before, after, losses } = await stepAt('staircase', 0);
    expect(losses['blocks.0.hook_resid_pre']).toBeGreaterThan(0);
    for (const h of TBLOCK_HOOKS.slice(1)) expect(losses[h]).toBe(0);

    // The latents position 0 selects, from the float64 reference on the initial parameters.
    const init = {
      wEnc: new Float64Array(D * n),
      bEnc: new Float64Array(n),
      wDec: Float64Array.from(before.wDec.subarray(0, n * D)),
      bDec: new Float64Array(D),
    };
    for (let d = 0; d < D; d++) for (let f = 0; f < n; f++) init.wEnc[d * n + f] = before.wEnc[d * 5 * n + f];
    expect(selectionMargin(preActivations64(x0, D, n, init), n, 10)).toBeGreaterThan(1e-4);
    const ref = topkSae64(x0, D, n, 10, init);
    const active = [...new Set(ref.idx.flat())].sort((a, b) => a - b);

    // Exactly the active latents' W_enc columns and W_dec rows changed; chunks 1–4 are untouched.
    expect(changedLatents(before.wEnc, after.wEnc, 'enc', 0, 5 * n)).toEqual(active);
    expect(changedLatents(before.wDec, after.wDec, 'dec', 0, 5 * n)).toEqual(active);
    // Each moved by exactly Adam's first step: Δ = −lr·ĝ/(|ĝ| + ε), ĝ = g·min(1, clip/(‖g‖ + 1e-6)) with the
    // global norm over every gradient (the other positions' are zero). float32 parameters of magnitude
    // ≤ √(6/64) ≈ 0.31 are spaced ≤ 3e-8 apart, so Δ read back from them is good to ~6e-8.
    const g = ref.grads;
    const norm = Math.sqrt(
      [g.wEnc, g.bEnc, g.wDec, g.bDec].reduce((a, t) => a + t.reduce((b, v) => b + v * v, 0), 0),
    );
    const scale = norm > 1 ? 1 / (norm + 1e-6) : 1;
    let checked = 0;
    for (const f of active) {
      for (let d = 0; d < D; d++) {
        const gs = g.wDec[f * D + d] * scale;
        const delta = after.wDec[f * D + d] - before.wDec[f * D + d];
        expect(Math.abs(delta + (lr * gs) / (Math.abs(gs) + 1e-8))).toBeLessThan(1e-7);
        checked++;
      }
    }
    expect(checked).toBe(active.length * D);

    // What position 4 sees through its view: the first 512 latents are the ones position 0 just changed.
    const v4 = set.view('blocks.3.hook_resid_post');
    const w4 = set.weights(v4);
    const enc4 = w4.wEnc.dataSync();
    const dec4 = w4.wDec.dataSync();
    for (const f of active) {
      for (let d = 0; d < D; d++) {
        expect(enc4[d * 2560 + f]).toBe(after.wEnc[d * 2560 + f]);
        expect(dec4[f * D + d]).toBe(after.wDec[f * D + d]);
      }
    }
    expect(changedLatents(before.wDec, Float32Array.from(dec4), 'dec', 0, n)).toEqual(active);
    tf.dispose([w4.wEnc, w4.wDec]);

    // Biases are per position: position 0's moved, the others' did not.
    expect(before.bDec[0]).not.toEqual(after.bDec[0]);
    expect(changedEntries(before.bEnc[0], after.bEnc[0], 0, n).length).toBeGreaterThan(0);
    for (let p = 1; p < 5; p++) {
      expect(after.bEnc[p]).toEqual(before.bEnc[p]);
      expect(after.bDec[p]).toEqual(before.bDec[p]);
    }
  });

  it('detach: position 2 updates only its own chunk; share updates the earlier chunks too', async () => {
    const detach = await stepAt('staircase-detach', 2);
    expect(detach.set.views.map((v) => v.detachBelow)).toEqual([0, 512, 1024, 1536, 2048]);
    // Position 2 uses latents [0, 1536); detach lets it change only [1024, 1536).
    expect(changedLatents(detach.before.wEnc, detach.after.wEnc, 'enc', 0, 1024)).toEqual([]);
    expect(changedLatents(detach.before.wDec, detach.after.wDec, 'dec', 0, 1024)).toEqual([]);
    expect(changedLatents(detach.before.wEnc, detach.after.wEnc, 'enc', 1536, 2560)).toEqual([]);
    const ownEnc = changedLatents(detach.before.wEnc, detach.after.wEnc, 'enc', 1024, 1536);
    const ownDec = changedLatents(detach.before.wDec, detach.after.wDec, 'dec', 1024, 1536);
    expect(ownEnc.length).toBeGreaterThan(0);
    expect(ownDec).toEqual(ownEnc);
    // Its biases still learn, also on latents of the frozen chunks (only the dictionary is detached).
    expect(changedEntries(detach.before.bEnc[2], detach.after.bEnc[2], 0, 1024).length).toBeGreaterThan(0);

    const share = await stepAt('staircase', 2);
    const earlier = changedLatents(share.before.wDec, share.after.wDec, 'dec', 0, 1024);
    expect(earlier.length).toBeGreaterThan(0);
    expect(changedLatents(share.before.wEnc, share.after.wEnc, 'enc', 0, 1024)).toEqual(earlier);
    expect(changedLatents(share.before.wEnc, share.after.wEnc, 'enc', 1536, 2560)).toEqual([]);
  });
});

describe('staircase variants', () => {
  it('untied: one dictionary per position with the staircase widths, nothing shared', () => {
    const set = make(toy('staircase-untied'));
    expect(set.dictionaries).toHaveLength(5);
    expect(new Set(set.views.map((v) => v.dict)).size).toBe(5);
    expect(set.views.map((v) => [v.width, v.dict.wDec.shape[0], v.dict.wEnc.shape[1]])).toEqual([
      [512, 512, 512],
      [1024, 1024, 1024],
      [1536, 1536, 1536],
      [2048, 2048, 2048],
      [2560, 2560, 2560],
    ]);
    // Σ_p (2 · 64 · 512(p+1) + 512(p+1) + 64) = (128 + 1) · 512 · 15 + 5 · 64
    expect(set.numParams()).toBe(129 * 512 * 15 + 320);
  });

  it('tied-all: every position uses the whole shared dictionary, with its own biases', () => {
    const set = make(toy('staircase-tied-all'));
    expect(set.dictionaries).toHaveLength(1);
    expect(set.views.map((v) => v.width)).toEqual([2560, 2560, 2560, 2560, 2560]);
    expect(set.views.every((v) => v.dict === set.dictionaries[0])).toBe(true);
    expect(new Set(set.views.map((v) => v.bEnc)).size).toBe(5);
    expect(new Set(set.views.map((v) => v.bDec)).size).toBe(5);
    // 327,680 (dictionary) + 5 · 2560 (b_enc) + 5 · 64 (b_dec)
    expect(set.numParams()).toBe(327_680 + 5 * 2560 + 5 * 64);
  });

  it('shared-bias: one b_dec variable for all positions, b_enc still per position', () => {
    const set = make(toy('staircase-shared-bias'));
    expect(new Set(set.views.map((v) => v.bDec)).size).toBe(1);
    expect(new Set(set.views.map((v) => v.bEnc)).size).toBe(5);
    // The staircase count minus four of the five b_dec vectors.
    expect(set.numParams()).toBe(335_680 - 4 * 64);
  });

  it('ffblock: one staircase per layer over (resid_mid, resid_post) with widths (n, 2n)', () => {
    const set = make(toy('staircase', 'ffblock'));
    expect(set.dictionaries.map((d) => [d.name, d.wDec.shape[0]])).toEqual([
      ['staircase0', 1024],
      ['staircase1', 1024],
      ['staircase2', 1024],
      ['staircase3', 1024],
    ]);
    expect(set.groups).toEqual(
      [0, 1, 2, 3].map((l) => ({
        name: `staircase${l}`,
        hooks: [`blocks.${l}.hook_resid_mid`, `blocks.${l}.hook_resid_post`],
      })),
    );
    for (let l = 0; l < 4; l++) {
      const mid = set.view(`blocks.${l}.hook_resid_mid`);
      const post = set.view(`blocks.${l}.hook_resid_post`);
      expect([mid.width, post.width, mid.position, post.position]).toEqual([512, 1024, 0, 1]);
      expect(mid.dict).toBe(post.dict);
      expect(mid.dict.name).toBe(`staircase${l}`);
    }
    // Per layer: 2 · 64 · 1024 + (512 + 1024) + 2 · 64
    expect(set.numParams()).toBe(4 * (2 * 64 * 1024 + 1536 + 128));
  });

  it('a staircase at fflayer and a JSAE at tblock are rejected with clear messages', () => {
    expect(() => new SaeSet(toy('staircase', 'fflayer'))).toThrow(
      /staircase shares one dictionary across residual-stream positions: use setup tblock or ffblock/,
    );
    expect(() => new SaeSet(toy('staircase-detach', 'fflayer'))).toThrow(/use setup tblock or ffblock/);
    expect(() => new SaeSet(toy('jsae', 'tblock'))).toThrow(/JSAE .*use setup fflayer or ffblock/);
  });
});
