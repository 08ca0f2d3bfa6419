/**
 * The toy GPT (SPEC §1.1, §2): parameter count and names, initialisation statistics, a float64 plain-JS reference
 * forward (lm.helpers.ts refGpt) as a second algorithm for the logits, every hook and the loss gradients (central
 * finite differences), forward-from-any-hook, hook semantics, patching, errors and tensor hygiene.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import { setKernelMode, softmaxCrossEntropy, type KernelMode } from '../../src-main/engine/kernels/ops.ts';
import { allHookNames, BLOCK_STAGES, Gpt, parseHook } from '../../src-main/engine/lm/gpt.ts';
import { LM_PRESETS, type GptConfig } from '../../src-shared/lm.ts';
import {
  centralDiff,
  expectClose,
  gelu64,
  prod,
  refGpt,
  scoped,
  TestRng,
  values,
  xent64,
} from './lm.helpers.ts';

beforeAll(async () => {
  await initBackend();
});

const MODES: KernelMode[] = ['simd', 'tfjs'];

function inMode<T>(mode: KernelMode, fn: () => T): T {
  setKernelMode(mode);
  try {
    return scoped(fn);
  } finally {
    setKernelMode(null);
  }
}

/** Parameter names and shapes of a GPT, written out from SPEC §1.1 and HF GPT-2's naming ([in, out] matrices). */
function handShapes(c: GptConfig): Record<string, number[]> {
  const { vocabSize: V, contextLength: T, dModel: D, dMlp: M } = c;
  const s: Record<string, number[]> = { 'wte.weight': [V, D], 'wpe.weight': [T, D] };
  for (let l = 0; l < c.nLayer; l++) {
    s[`h.${l}.ln_1.weight`] = [D];
    s[`h.${l}.ln_1.bias`] = [D];
    s[`h.${l}.attn.c_attn.weight`] = [D, 3 * D];
    s[`h.${l}.attn.c_attn.bias`] = [3 * D];
    s[`h.${l}.attn.c_proj.weight`] = [D, D];
    s[`h.${l}.attn.c_proj.bias`] = [D];
    s[`h.${l}.ln_2.weight`] = [D];
    s[`h.${l}.ln_2.bias`] = [D];
    if (c.norm2 === 'dyt') s[`h.${l}.ln_2.alpha`] = [];
    s[`h.${l}.mlp.c_fc.weight`] = [D, M];
    s[`h.${l}.mlp.c_fc.bias`] = [M];
    s[`h.${l}.mlp.c_proj.weight`] = [M, D];
    s[`h.${l}.mlp.c_proj.bias`] = [D];
  }
  s['ln_f.weight'] = [D];
  s['ln_f.bias'] = [D];
  return s;
}

const shapesOf = (g: Gpt) => Object.fromEntries(Object.entries(g.params).map(([k, v]) => [k, v.shape]));

/**
 * A GPT with random parameters well away from the init (γ ≠ 1, β ≠ 0, non-zero biases, O(1) attention scores),
 * so that every term of the forward pass and of the gradient matters. Returns the model and float64 copies of the
 * exact float32 parameter values for the reference.
 */
function randomGpt(c: GptConfig, seed: number): { gpt: Gpt; p64: Record<string, Float64Array> } {
  const rng = new TestRng(seed);
  const tensors: Record<string, tf.Tensor> = {};
  const p64: Record<string, Float64Array> = {};
  for (const [name, shape] of Object.entries(handShapes(c))) {
    const n = prod(shape);
    let v: Float32Array;
    if (name.endsWith('ln_2.alpha')) v = Float32Array.of(0.8 + 0.4 * rng.uniform());
    else if (/ln_\d\.weight|ln_f\.weight/.test(name)) v = rng.normals(n, 0.2, 1);
    else if (name.endsWith('.bias')) v = rng.normals(n, 0.1);
    else if (name === 'wte.weight') v = rng.normals(n, 0.5);
    else if (name === 'wpe.weight') v = rng.normals(n, 0.3);
    else v = rng.normals(n, 0.4 / Math.sqrt(shape[0] / 8));
    tensors[name] = tf.tensor(v, shape);
    p64[name] = Float64Array.from(v);
  }
  return { gpt: Gpt.fromTensors(c, tensors), p64 };
}

const TINY: GptConfig = {
  vocabSize: 11,
  contextLength: 5,
  dModel: 8,
  nLayer: 2,
  nHead: 2,
  dMlp: 16,
  norm2: 'layernorm',
  lnEps: 1e-5,
  dytAlphaInit: 10,
};
const TINY_DYT: GptConfig = { ...TINY, norm2: 'dyt' };

function tokenBatch(seed: number, B: number, T: number, V: number) {
  const rng = new TestRng(seed);
  return { tokens: rng.ints(B * T, V), targets: rng.ints(B * T, V) };
}

describe('parameters (SPEC §1.1)', () => {
  it('ascii-64x4 has exactly 216,448 parameters with HF GPT-2 names and shapes', () => {
    const c = LM_PRESETS['ascii-64x4'].model;
    // By hand, V 128, T 128, D 64, 4 layers, MLP 256:
    //   wte 128·64 = 8,192; wpe 128·64 = 8,192; ln_f 64 + 64 = 128
    //   per layer: ln_1 64 + 64 = 128; c_attn 64·192 + 192 = 12,480; attn c_proj 64·64 + 64 = 4,160;
    //              ln_2 128; c_fc 64·256 + 256 = 16,640; mlp c_proj 256·64 + 64 = 16,448  → 49,984
    //   total 8,192 + 8,192 + 4·49,984 + 128 = 216,448
    const perLayer = 128 + (64 * 192 + 192) + (64 * 64 + 64) + 128 + (64 * 256 + 256) + (256 * 64 + 64);
    expect(perLayer).toBe(49_984);
    expect(8192 + 8192 + 4 * perLayer + 128).toBe(216_448);
    const gpt = Gpt.init(c, 0);
    try {
      expect(gpt.numParams()).toBe(216_448);
      expect(Object.values(gpt.params).reduce((n, v) => n + v.size, 0)).toBe(216_448);
      expect(shapesOf(gpt)).toEqual(handShapes(c));
      // Spot checks written out literally (HF Conv1D stores [in, out]).
      expect(gpt.params['h.3.attn.c_attn.weight'].shape).toEqual([64, 192]);
      expect(gpt.params['h.0.mlp.c_proj.weight'].shape).toEqual([256, 64]);
      expect(gpt.params['wpe.weight'].shape).toEqual([128, 64]);
      expect(Object.keys(gpt.params)).toHaveLength(2 + 4 * 12 + 2);
      expect(Object.keys(gpt.params).some((k) => k.startsWith('lm_head'))).toBe(false); // tied head, no bias
    } finally {
      gpt.dispose();
    }
  });

  it('ascii-64x4-dyt has 216,452 parameters: one scalar α per layer replaces nothing, adds 4', () => {
    const c = LM_PRESETS['ascii-64x4-dyt'].model;
    expect(c.norm2).toBe('dyt');
    const gpt = Gpt.init(c, 0);
    try {
      // 216,448 + 4 layers × 1 scalar α (γ and β keep the LayerNorm's weight / bias names and sizes)
      expect(gpt.numParams()).toBe(216_448 + 4);
      expect(shapesOf(gpt)).toEqual(handShapes(c));
      for (let l = 0; l < 4; l++) expect(gpt.params[`h.${l}.ln_2.alpha`].shape).toEqual([]);
    } finally {
      gpt.dispose();
    }
  });

  it('the quick preset is the same architecture with D 32, 2 layers, MLP 128 (31,616 parameters)', () => {
    // wte 128·32 + wpe 64·32 + 2·(64 + 32·96+96 + 32·32+32 + 64 + 32·128+128 + 128·32+32) + 64
    // = 4,096 + 2,048 + 2·12,704 + 64 = 31,616
    const gpt = Gpt.init(LM_PRESETS.quick.model, 0);
    expect(gpt.numParams()).toBe(31_616);
    gpt.dispose();
  });
});

describe('initialisation (SPEC §1.1)', () => {
  let gpt: Gpt;
  let dyt: Gpt;
  beforeAll(() => {
    gpt = Gpt.init(LM_PRESETS['ascii-64x4'].model, 0);
    dyt = Gpt.init(LM_PRESETS['ascii-64x4-dyt'].model, 0);
  });
  afterAll(() => {
    gpt.dispose();
    dyt.dispose();
  });

  /**
   * Sample mean and std of n iid N(0, σ²) draws: the mean has standard error σ/√n and the std a relative
   * standard error ≈ 1/√(2n). Five standard errors: a false alarm has probability < 1e-6 per check.
   */
  function expectNormal(name: string, x: Float32Array, sigma: number) {
    const n = x.length;
    const mean = x.reduce((a, b) => a + b, 0) / n;
    const std = Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
    expect(Math.abs(mean), `${name} mean`).toBeLessThan((5 * sigma) / Math.sqrt(n));
    expect(Math.abs(std / sigma - 1), `${name} std ${std} vs ${sigma}`).toBeLessThan(5 / Math.sqrt(2 * n));
    // Shape, not just scale: P(|x| < σ) = 0.6827 for a normal; binomial standard error √(p(1−p)/n).
    const within = x.reduce((a, b) => a + (Math.abs(b) < sigma ? 1 : 0), 0) / n;
    expect(Math.abs(within - 0.6827), `${name} fraction within 1σ`).toBeLessThan(
      5 * Math.sqrt((0.6827 * 0.3173) / n),
    );
  }

  it('weights and embeddings ~ N(0, 0.02²); both output projections ~ N(0, (0.02/√8)²)', () => {
    const proj = 0.02 / Math.sqrt(2 * 4); // 0.0070710678: 2·n_layer = 8
    for (const g of [gpt, dyt]) {
      expectNormal('wte', g.params['wte.weight'].dataSync() as Float32Array, 0.02);
      expectNormal('wpe', g.params['wpe.weight'].dataSync() as Float32Array, 0.02);
      for (let l = 0; l < 4; l++) {
        expectNormal(
          `h.${l}.attn.c_attn.weight`,
          g.params[`h.${l}.attn.c_attn.weight`].dataSync() as Float32Array,
          0.02,
        );
        expectNormal(
          `h.${l}.mlp.c_fc.weight`,
          g.params[`h.${l}.mlp.c_fc.weight`].dataSync() as Float32Array,
          0.02,
        );
        expectNormal(
          `h.${l}.attn.c_proj.weight`,
          g.params[`h.${l}.attn.c_proj.weight`].dataSync() as Float32Array,
          proj,
        );
        expectNormal(
          `h.${l}.mlp.c_proj.weight`,
          g.params[`h.${l}.mlp.c_proj.weight`].dataSync() as Float32Array,
          proj,
        );
      }
    }
  });

  it('LayerNorm weights are 1, every bias is 0, DyT α is 10 with γ = 1 and β = 0', () => {
    for (const g of [gpt, dyt]) {
      for (const [name, v] of Object.entries(g.params)) {
        const x = Array.from(v.dataSync());
        if (name.endsWith('.bias'))
          expect(
            x.every((e) => e === 0),
            name,
          ).toBe(true);
        else if (/ln_\d\.weight$|ln_f\.weight$/.test(name))
          expect(
            x.every((e) => e === 1),
            name,
          ).toBe(true);
        else if (name.endsWith('ln_2.alpha')) expect(x, name).toEqual([10]);
      }
    }
    expect(Object.keys(dyt.params).filter((k) => k.endsWith('alpha'))).toHaveLength(4);
  });

  it('is deterministic per seed and differs across seeds', () => {
    const a = Gpt.init(TINY, 7);
    const b = Gpt.init(TINY, 7);
    const c = Gpt.init(TINY, 8);
    try {
      for (const name of Object.keys(a.params)) {
        expect(Array.from(b.params[name].dataSync()), name).toEqual(Array.from(a.params[name].dataSync()));
      }
      for (const name of ['wte.weight', 'wpe.weight', 'h.0.attn.c_attn.weight', 'h.1.mlp.c_proj.weight']) {
        const x = a.params[name].dataSync();
        const y = c.params[name].dataSync();
        expect(
          x.some((v, i) => v !== y[i]),
          name,
        ).toBe(true);
      }
    } finally {
      [a, b, c].forEach((g) => g.dispose());
    }
  });
});

describe('float64 reference forward and finite-difference gradients', () => {
  for (const config of [TINY, TINY_DYT]) {
    describe(`norm2 = ${config.norm2}`, () => {
      let gpt: Gpt;
      let p64: Record<string, Float64Array>;
      const B = 2;
      const T = 5;
      const { tokens, targets } = tokenBatch(3, B, T, config.vocabSize);
      beforeAll(() => ({ gpt, p64 } = randomGpt(config, config.norm2 === 'dyt' ? 21 : 20)));
      afterAll(() => gpt.dispose());

      for (const mode of MODES) {
        it(`${mode}: logits and every hook match the reference to ~1e-5`, () => {
          const ref = refGpt(config, p64, tokens, B, T);
          const names = allHookNames(config.nLayer);
          const { logits, hooks } = inMode(mode, () => {
            const r = gpt.run({ tokens: tf.tensor2d(tokens, [B, T], 'int32'), capture: names });
            return {
              logits: values(r.logits!),
              hooks: Object.fromEntries(Object.entries(r.cache).map(([k, v]) => [k, values(v)])),
            };
          });
          // float32 throughout, dims ≤ 16: a few ulps of the largest entry; 1e-5 of max|·| (plus 1e-5 relative).
          expectClose(logits, ref.logits, { atolRel: 1e-5, rtol: 1e-5 }, 'logits');
          expect(Object.keys(hooks).sort()).toEqual([...names].sort());
          for (const name of names)
            expectClose(hooks[name], ref.hooks[name], { atolRel: 1e-5, rtol: 1e-5 }, name);
          // A shorter sequence (T = 3) uses the first positions of wpe and the same causal structure.
          const ref3 = refGpt(config, p64, tokens.slice(0, 3), 1, 3);
          const l3 = inMode(mode, () =>
            values(gpt.forward(tf.tensor2d(tokens.slice(0, 3), [1, 3], 'int32'))),
          );
          expectClose(l3, ref3.logits, { atolRel: 1e-5, rtol: 1e-5 }, 'logits T=3');
        });

        it(`${mode}: gradient of the mean cross-entropy matches float64 central differences for every parameter`, () => {
          const grads = inMode(mode, () => {
            const vars = Object.values(gpt.params);
            const { value, grads } = tf.variableGrads(() => {
              const logits = gpt
                .forward(tf.tensor2d(tokens, [B, T], 'int32'))
                .reshape([-1, config.vocabSize]) as tf.Tensor2D;
              return softmaxCrossEntropy(logits, tf.tensor1d(targets, 'int32'));
            }, vars);
            const out: Record<string, Float64Array> = { __loss: Float64Array.of(value.dataSync()[0]) };
            for (const [name, v] of Object.entries(gpt.params)) out[name] = values(grads[v.name]);
            return out;
          });
          const loss = () => xent64(refGpt(config, p64, tokens, B, T).logits, config.vocabSize, targets);
          expect(grads.__loss[0]).toBeCloseTo(loss(), 5);
          // FD in float64 (h = 1e-5) is accurate to ~1e-9; the engine's gradients are float32 through ~30 ops, so
          // they carry ~1e-6 relative noise. Allow 1e-4 of the largest entry of each tensor plus 1e-3 relative: a
          // missing term, a wrong scale or a transposed matrix is off by O(1) of the entry.
          for (const name of Object.keys(handShapes(config))) {
            expectClose(
              grads[name],
              centralDiff(loss, p64[name]),
              { atolRel: 1e-4, rtol: 1e-3, atol: 1e-7 },
              `∂loss/∂${name}`,
            );
          }
        });
      }
    });
  }
});

/** Residual-stream context a pass starting at `hook` needs (RunOptions.from.context). */
function contextFor(hook: string, cache: Record<string, tf.Tensor3D>): Record<string, tf.Tensor3D> {
  const m = /^blocks\.(\d+)\.(.+)$/.exec(hook);
  if (!m) return {};
  const [l, stage] = [m[1], m[2]];
  if (['ln1.hook_normalized', 'hook_attn_out'].includes(stage))
    return { [`blocks.${l}.hook_resid_pre`]: cache[`blocks.${l}.hook_resid_pre`] };
  if (['ln2.hook_normalized', 'mlp.hook_pre', 'mlp.hook_post', 'hook_mlp_out'].includes(stage)) {
    return { [`blocks.${l}.hook_resid_mid`]: cache[`blocks.${l}.hook_resid_mid`] };
  }
  return {};
}

describe('forward from a hook', () => {
  for (const config of [TINY, TINY_DYT]) {
    it(`${config.norm2}: starting from any hook's value (plus its residual context) gives the full forward's logits`, () => {
      const { gpt } = randomGpt(config, 30);
      const B = 2;
      const T = 4;
      const { tokens } = tokenBatch(31, B, T, config.vocabSize);
      const names = allHookNames(config.nLayer);
      expect(names).toHaveLength(config.nLayer * BLOCK_STAGES.length + 1);
      tf.tidy(() => {
        const full = gpt.run({ tokens: tf.tensor2d(tokens, [B, T], 'int32'), capture: names });
        const want = Array.from(full.logits!.dataSync());
        for (const hook of names) {
          const r = gpt.run({
            from: { hook, value: full.cache[hook], context: contextFor(hook, full.cache) },
          });
          // The same ops on the same inputs in the same order: bit-identical.
          expect(Array.from(r.logits!.dataSync()), hook).toEqual(want);
        }
      });
      gpt.dispose();
    });
  }

  it('a pass from inside a block without its residual context is an error naming what is missing', () => {
    const { gpt } = randomGpt(TINY, 32);
    tf.tidy(() => {
      const x = tf.zeros([1, 3, 8]) as tf.Tensor3D;
      expect(() => gpt.run({ from: { hook: 'blocks.1.hook_attn_out', value: x } })).toThrow(
        /blocks\.1\.hook_resid_pre/,
      );
      expect(() =>
        gpt.run({ from: { hook: 'blocks.0.mlp.hook_post', value: tf.zeros([1, 3, 16]) as tf.Tensor3D } }),
      ).toThrow(/blocks\.0\.hook_resid_mid/);
      // Residual hooks need no context.
      expect(gpt.run({ from: { hook: 'blocks.1.hook_resid_mid', value: x } }).logits!.shape).toEqual([
        1, 3, 11,
      ]);
    });
    gpt.dispose();
  });
});

describe('hook values (SPEC §2)', () => {
  const B = 2;
  const T = 16;
  for (const norm2 of ['layernorm', 'dyt'] as const) {
    it(`${norm2}, at init: residual sums, normalisation, gelu and block chaining`, () => {
      const config: GptConfig = { ...LM_PRESETS.quick.model, norm2 };
      const { vocabSize: V, dModel: D, nLayer: L } = config;
      const gpt = Gpt.init(config, 4);
      const { tokens } = tokenBatch(40, B, T, V);
      const names = allHookNames(L);
      const { h, logits } = scoped(() => {
        const run = gpt.run({ tokens: tf.tensor2d(tokens, [B, T], 'int32'), capture: names });
        const cache = Object.fromEntries(
          Object.entries(run.cache).map(([k, v]) => [k, v.dataSync() as Float32Array]),
        );
        tf.dispose(Object.values(run.cache));
        return { h: cache, logits: run.logits!.dataSync() as Float32Array };
      });
      const wte = gpt.params['wte.weight'].dataSync();
      const wpe = gpt.params['wpe.weight'].dataSync();

      // Float32 sums checked exactly: fround(a + b) of two float32 values is the correctly rounded float32 sum.
      const expectSum = (out: Float32Array, a: ArrayLike<number>, b: (i: number) => number, what: string) => {
        const bad = out.findIndex((v, i) => v !== Math.fround(a[i] + b(i)));
        expect(bad, what).toBe(-1);
      };
      // blocks.0.hook_resid_pre = wte[token] + wpe[position]
      expectSum(
        h['blocks.0.hook_resid_pre'],
        Array.from(h['blocks.0.hook_resid_pre'], (_, i) => wte[tokens[Math.floor(i / D)] * D + (i % D)]),
        (i) => wpe[(Math.floor(i / D) % T) * D + (i % D)],
        'embedding',
      );
      for (let l = 0; l < L; l++) {
        const k = (s: string) => h[`blocks.${l}.${s}`];
        expectSum(
          k('hook_resid_mid'),
          k('hook_resid_pre'),
          (i) => k('hook_attn_out')[i],
          `blocks.${l}.hook_resid_mid = resid_pre + attn_out`,
        );
        expectSum(
          k('hook_resid_post'),
          k('hook_resid_mid'),
          (i) => k('hook_mlp_out')[i],
          `blocks.${l}.hook_resid_post = resid_mid + mlp_out`,
        );
        if (l + 1 < L)
          expect(h[`blocks.${l + 1}.hook_resid_pre`], `resid_post ${l} = resid_pre ${l + 1}`).toEqual(
            k('hook_resid_post'),
          );
        // mlp.hook_post = gelu_tanh(mlp.hook_pre), the formula in float64
        expectClose(
          k('mlp.hook_post'),
          Array.from(k('mlp.hook_pre'), gelu64),
          { atol: 1e-7, rtol: 2e-6 },
          `blocks.${l}.mlp.hook_post`,
        );
        const mid = k('hook_resid_mid');
        const n2 = k('ln2.hook_normalized');
        for (let r = 0; r < B * T; r++) {
          const x = Array.from(mid.subarray(r * D, (r + 1) * D));
          const y = Array.from(n2.subarray(r * D, (r + 1) * D));
          if (norm2 === 'dyt') {
            // DyT at init: γ = 1, β = 0, α = 10 → tanh(10x)
            expectClose(
              y,
              x.map((v) => Math.tanh(10 * v)),
              { atol: 1e-6 },
              `blocks.${l}.ln2 DyT row ${r}`,
            );
          } else {
            // γ = 1, β = 0: zero mean, and biased variance σ²/(σ² + eps) (≈ 1, but the residual stream at init is
            // small, σ² ~ 1e-3, so eps = 1e-5 shows at the 1 % level).
            const mx = x.reduce((a, b) => a + b, 0) / D;
            const vx = x.reduce((a, b) => a + (b - mx) ** 2, 0) / D;
            const my = y.reduce((a, b) => a + b, 0) / D;
            const vy = y.reduce((a, b) => a + (b - my) ** 2, 0) / D;
            expect(Math.abs(my), `blocks.${l}.ln2 row ${r} mean`).toBeLessThan(1e-6);
            expect(vy, `blocks.${l}.ln2 row ${r} variance`).toBeCloseTo(vx / (vx + 1e-5), 5);
          }
        }
        // ln1 is always a LayerNorm
        const y1 = k('ln1.hook_normalized').subarray(0, D);
        expect(Math.abs(y1.reduce((a, b) => a + b, 0) / D)).toBeLessThan(1e-6);
      }
      // The head: logits = ln_final · wteᵀ (tied, no bias)
      const nf = h['ln_final.hook_normalized'];
      const want = new Float64Array(B * T * V);
      for (let r = 0; r < B * T; r++)
        for (let v = 0; v < V; v++)
          for (let d = 0; d < D; d++) want[r * V + v] += nf[r * D + d] * wte[v * D + d];
      expectClose(logits, want, { atolRel: 1e-5 }, 'tied head');
      gpt.dispose();
    });
  }
});

describe('patching', () => {
  it('replacing blocks.1.hook_resid_pre changes downstream hooks only', () => {
    const { gpt } = randomGpt(TINY, 50);
    const { tokens } = tokenBatch(51, 2, 5, 11);
    const names = allHookNames(2);
    tf.tidy(() => {
      const x = tf.tensor2d(tokens, [2, 5], 'int32');
      const clean = gpt.run({ tokens: x, capture: names });
      const zeros = (v: tf.Tensor3D) => tf.zerosLike(v);
      const patched = gpt.run({ tokens: x, capture: names, patch: { 'blocks.1.hook_resid_pre': zeros } });
      for (const name of names) {
        const same = Array.from(patched.cache[name].dataSync()).every(
          (v, i) => v === clean.cache[name].dataSync()[i],
        );
        const layer = name.startsWith('blocks.') ? Number(name.split('.')[1]) : 2;
        // Layer 0 is upstream of the patch: bit-identical. Everything from blocks.1 on is downstream.
        expect(same, name).toBe(layer === 0);
      }
      // The captured value is the patched one, and the rest of the pass continues from it: the same logits as a
      // pass started at that hook with zeros.
      expect(patched.cache['blocks.1.hook_resid_pre'].dataSync().every((v) => v === 0)).toBe(true);
      const fromZeros = gpt.run({
        from: { hook: 'blocks.1.hook_resid_pre', value: tf.zeros([2, 5, 8]) as tf.Tensor3D },
      });
      expect(Array.from(patched.logits!.dataSync())).toEqual(Array.from(fromZeros.logits!.dataSync()));
      // With resid_pre = 0, LN1 gives β exactly, so block 1's attention sees the same row at every position.
      const n1 = patched.cache['blocks.1.ln1.hook_normalized'].dataSync();
      const beta = gpt.params['h.1.ln_1.bias'].dataSync();
      expectClose(
        n1,
        Array.from(n1, (_, i) => beta[i % 8]),
        { atol: 1e-6 },
        'LN1(0) = β',
      );
    });
    gpt.dispose();
  });

  it('a patch function sees the clean value; zeroing mlp.hook_post leaves hook_mlp_out = the MLP output bias', () => {
    const { gpt } = randomGpt(TINY, 52);
    const { tokens } = tokenBatch(53, 1, 5, 11);
    tf.tidy(() => {
      const x = tf.tensor2d(tokens, [1, 5], 'int32');
      const clean = gpt.run({ tokens: x, capture: ['blocks.0.mlp.hook_post'] });
      let seen: Float32Array | null = null;
      const r = gpt.run({
        tokens: x,
        capture: ['blocks.0.mlp.hook_pre', 'blocks.0.hook_mlp_out'],
        patch: {
          'blocks.0.mlp.hook_post': (v) => {
            seen = v.dataSync() as Float32Array;
            return tf.zerosLike(v);
          },
        },
      });
      expect(Array.from(seen!)).toEqual(Array.from(clean.cache['blocks.0.mlp.hook_post'].dataSync()));
      const b = gpt.params['h.0.mlp.c_proj.bias'].dataSync();
      expect(Array.from(r.cache['blocks.0.hook_mlp_out'].dataSync())).toEqual(
        Array.from({ length: 5 * 8 }, (_, i) => b[i % 8]),
      );
    });
    gpt.dispose();
  });

  it('stopAt ends the pass after that hook with no logits', () => {
    const { gpt } = randomGpt(TINY, 54);
    tf.tidy(() => {
      const r = gpt.run({
        tokens: tf.tensor2d([[1, 2, 3]], [1, 3], 'int32'),
        capture: ['blocks.0.hook_resid_mid', 'blocks.0.ln2.hook_normalized'],
        stopAt: 'blocks.0.hook_resid_mid',
      });
      expect(r.logits).toBeNull();
      expect(Object.keys(r.cache)).toEqual(['blocks.0.hook_resid_mid']);
    });
    gpt.dispose();
  });
});

describe('errors', () => {
  it('unknown hook names are rejected with the name and an example', () => {
    expect(() => parseHook('blocks.2.hook_resid_pre', 2)).toThrow(
      /unknown hook 'blocks\.2\.hook_resid_pre' for a 2-layer model/,
    );
    expect(() => parseHook('blocks.0.hook_resid', 2)).toThrow(/unknown hook/);
    expect(() => parseHook('hook_resid_pre', 2)).toThrow(/e\.g\. blocks\.0\.hook_resid_pre/);
    expect(parseHook('ln_final.hook_normalized', 2)).toEqual({ layer: 2, stage: 'ln_final.hook_normalized' });
    expect(parseHook('blocks.1.mlp.hook_pre', 2)).toEqual({ layer: 1, stage: 'mlp.hook_pre' });
    const { gpt } = randomGpt(TINY, 60);
    tf.tidy(() => {
      expect(() =>
        gpt.run({ from: { hook: 'blocks.0.resid', value: tf.zeros([1, 2, 8]) as tf.Tensor3D } }),
      ).toThrow(/unknown hook 'blocks\.0\.resid'/);
      expect(() => gpt.run({})).toThrow(/needs tokens or a starting hook/);
      expect(() => gpt.forward(tf.zeros([1, 6], 'int32') as tf.Tensor2D)).toThrow(
        /6 tokens exceeds the context length 5/,
      );
    });
    gpt.dispose();
  });
});

describe('tensor hygiene', () => {
  for (const mode of MODES) {
    it(`${mode}: 20 forward/backward steps inside tf.tidy leave tf.memory().numTensors unchanged`, () => {
      const { gpt } = randomGpt(TINY_DYT, 70);
      const vars = Object.values(gpt.params);
      const before = tf.memory().numTensors;
      setKernelMode(mode);
      try {
        for (let step = 0; step < 20; step++) {
          const { tokens, targets } = tokenBatch(100 + step, 2, 5, 11);
          tf.tidy(() => {
            const { grads } = tf.variableGrads(() => {
              const logits = gpt
                .forward(tf.tensor2d(tokens, [2, 5], 'int32'))
                .reshape([-1, 11]) as tf.Tensor2D;
              return softmaxCrossEntropy(logits, tf.tensor1d(targets, 'int32'));
            }, vars);
            // apply a tiny SGD step so variables are rewritten as in training
            for (const v of vars) v.assign(tf.sub(v, tf.mul(grads[v.name], 1e-3)));
          });
        }
      } finally {
        setKernelMode(null);
      }
      expect(tf.memory().numTensors).toBe(before);
      // Captured hooks are kept out of the tidy by design; disposing them restores the count.
      const kept = tf.tidy(
        () => gpt.run({ tokens: tf.tensor2d([[1, 2]], [1, 2], 'int32'), capture: allHookNames(2) }).cache,
      );
      // blocks.0.hook_resid_post and blocks.1.hook_resid_pre are one tensor (the residual stream between blocks).
      expect(kept['blocks.1.hook_resid_pre']).toBe(kept['blocks.0.hook_resid_post']);
      expect(tf.memory().numTensors).toBe(before + new Set(Object.values(kept)).size);
      tf.dispose(Object.values(kept));
      expect(tf.memory().numTensors).toBe(before);
      gpt.dispose();
    });
  }
});
