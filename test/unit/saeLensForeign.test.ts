/**
 * SAELens import of foreign architectures (issue 12 item 6): folders in the public GPT-2 Small release layouts
 * (saeLensForeign.helpers.ts: gpt2-small-res-jb, SAELens ≤ 5 standard / jumprelu, SAELens 6 topk) are read with
 * their own activation — checked against SAELens's formulas in float64 — their metrics use it (L0 measured),
 * SCALAR on imported ReLU and JumpReLU pairs matches the plain algorithms (edge scores, logits and KL at several
 * budgets, full circuit), and layouts we cannot honour are refused by name.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { SaeSetup } from '../../src-shared/sae.ts';
import { initBackend } from '../../src-main/engine/backend.ts';
import { exportSaeSet, readSaeLens } from '../../src-main/engine/io/saelens.ts';
import {
  checkSaeLensSet,
  inspectSaeLensSet,
  loadSaeLensSet,
} from '../../src-main/engine/io/saelensImport.ts';
import type { Gpt } from '../../src-main/engine/lm/gpt.ts';
import { evaluateSaeSet } from '../../src-main/engine/sae/metrics.ts';
import { setupPositions } from '../../src-main/engine/sae/positions.ts';
import type { SaeSet } from '../../src-main/engine/sae/saeSet.ts';
import { densify, encode } from '../../src-main/engine/sae/topk.ts';
import { SubcircuitEvaluator } from '../../src-main/engine/scalar/ablation.ts';
import { attributionBatchFast, finishAttribution } from '../../src-main/engine/scalar/attribution.ts';
import { PairModel, perTokenKl } from '../../src-main/engine/scalar/pair.ts';
import { PairPool } from '../../src-main/engine/scalar/pairPool.ts';
import { accumulateAttributionPlain, subcircuitLogitsPlain } from '../../src-main/engine/scalar/plain.ts';
import { randomRanking, rankByScore } from '../../src-main/engine/scalar/ranking.ts';
import { expectClose, maxRelDiff, TestRng } from './lm.helpers.ts';
import { pairF64, randomPair, randomTokens } from './scalar.helpers.ts';
import {
  foreignCodes64,
  randomForeign,
  writeForeignSet,
  type ForeignSae,
  type Layout,
} from './saeLensForeign.helpers.ts';

const F = 8;
let tmp: string;
let lm: Gpt;
let D: number;

beforeAll(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-saelens-foreign-'));
  // The random 2-layer LM of the SCALAR tests (d_model 16, vocabulary 11); its own SAEs are not used.
  const r = randomPair({ setup: 'fflayer' });
  r.set.dispose();
  lm = r.lm;
  D = lm.config.dModel;
});

afterAll(() => {
  lm.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

let folders = 0;
/** One foreign SAE per hook of `setup`, written in `layout`; returns the folder and the SAEs. */
function foreignSet(
  layout: Layout,
  setup: SaeSetup,
  opts: {
    applyBDec?: boolean;
    thresholdName?: string;
    cfg?: (c: Record<string, unknown>) => Record<string, unknown>;
  } = {},
) {
  const hooks = setupPositions(setup, lm.config.nLayer).hooks;
  const saes: Record<string, ForeignSae> = Object.fromEntries(
    hooks.map((h, i) => [h, randomForeign(D, F, 40 + i, layout === 'v5-jumprelu', opts.applyBDec ?? true)]),
  );
  const dir = writeForeignSet(path.join(tmp, `set${folders++}`), layout, saes, opts);
  return { dir, saes };
}

function importSet(dir: string): SaeSet {
  const info = inspectSaeLensSet(dir, lm.config);
  checkSaeLensSet(info, lm.config);
  return loadSaeLensSet(info, lm.config);
}

/** Dense codes of x [N, D] through the imported SAE at `hook` (the engine's encode). */
function engineCodes(set: SaeSet, hook: string, x: Float32Array): Float32Array {
  const v = set.view(hook);
  return tf.tidy(() => {
    const codes = encode(tf.tensor2d(x, [x.length / D, D]), set.weights(v), v.k);
    return densify(codes, v.width).dataSync() as Float32Array;
  });
}

describe('public layouts are read with their own activation', () => {
  const x = new TestRng(3).normals(12 * 16, 1);
  const CASES: { layout: Layout; arch: string; applyBDec?: boolean; thresholdName?: string }[] = [
    { layout: 'jb', arch: 'relu' },
    { layout: 'v5-standard', arch: 'relu', applyBDec: false },
    { layout: 'v5-jumprelu', arch: 'jumprelu' },
    { layout: 'v5-jumprelu', arch: 'jumprelu', thresholdName: 'log_threshold' },
    { layout: 'v6-topk', arch: 'topk' },
  ];
  for (const c of CASES) {
    it(`${c.layout}${c.thresholdName ? ` (${c.thresholdName})` : ''}${c.applyBDec === false ? ', apply_b_dec_to_input false' : ''} → ${c.arch}`, () => {
      const { dir, saes } = foreignSet(c.layout, 'fflayer', c);
      const info = inspectSaeLensSet(dir, lm.config);
      expect(info).toMatchObject({ arch: c.arch, setup: 'fflayer', width: F, k: c.arch === 'topk' ? 3 : F });
      const set = importSet(dir);
      try {
        for (const [hook, s] of Object.entries(saes)) {
          // The file's tensors, as written.
          const read = readSaeLens(path.join(dir, hook));
          expect(read.cfg.hook_name).toBe(hook);
          expect(Array.from(read.weights.wEnc.dataSync())).toEqual(Array.from(s.wEnc));
          expect(Array.from(read.weights.wDec.dataSync())).toEqual(Array.from(s.wDec));
          tf.dispose(Object.values(read.weights));
          // SAELens's activation: log_threshold files define θ = exp(log_threshold).
          const ref: ForeignSae =
            c.thresholdName === 'log_threshold'
              ? {
                  ...s,
                  threshold: s.threshold!.map((v) =>
                    Math.fround(Math.exp(Math.fround(Math.log(Math.max(v, 1e-3))))),
                  ),
                }
              : s;
          const expected = foreignCodes64(ref, x, c.arch === 'topk' ? 3 : undefined);
          const active = expected.filter((v) => v > 0).length;
          expect(active, 'a meaningful case').toBeGreaterThan(12);
          expectClose(engineCodes(set, hook, x), expected, { atol: 2e-6, rtol: 1e-5 }, `${hook} codes`);
        }
      } finally {
        set.dispose();
      }
    });
  }

  it('a JumpReLU run exports in the jumprelu layout and imports back to the same SAEs', async () => {
    const { dir, saes } = foreignSet('v5-jumprelu', 'fflayer');
    const set = importSet(dir);
    const out = path.join(tmp, 'reexport');
    try {
      await exportSaeSet(out, set, { runId: 'r', modelName: 'tiny', contextSize: 6 });
      const again = importSet(out);
      try {
        expect(again.spec.arch).toBe('jumprelu');
        const x = new TestRng(5).normals(12 * D, 1);
        for (const [hook, s] of Object.entries(saes)) {
          const cfg = JSON.parse(fs.readFileSync(path.join(out, hook, 'cfg.json'), 'utf8'));
          expect(cfg).toMatchObject({ architecture: 'jumprelu', activation_fn_str: 'relu' });
          expectClose(engineCodes(again, hook, x), foreignCodes64(s, x), { atol: 2e-6, rtol: 1e-5 }, hook);
        }
      } finally {
        again.dispose();
      }
    } finally {
      set.dispose();
    }
  });

  it('metrics use the activation: L0 is the measured mean active count, EV from its reconstruction', async () => {
    const { dir, saes } = foreignSet('v5-jumprelu', 'fflayer');
    const set = importSet(dir);
    try {
      const T = lm.config.contextLength;
      const r = new TestRng(17);
      const batch = {
        inputs: Int32Array.from(r.ints(4 * T, 11)),
        targets: Int32Array.from(r.ints(4 * T, 11)),
        starts: new Int32Array(4),
        batchSize: 4,
        contextLength: T,
      };
      const ev = await evaluateSaeSet(lm, set, [batch]);
      const hooks = Object.keys(saes);
      const cache = tf.tidy(
        () => lm.run({ tokens: tf.tensor2d(batch.inputs, [4, T], 'int32'), capture: hooks }).cache,
      );
      const l0s: number[] = [];
      for (const [h, s] of Object.entries(saes)) {
        const xs = cache[h].dataSync();
        const z = foreignCodes64(s, xs);
        const N = xs.length / D;
        l0s.push(z.filter((v) => v > 0).length / N);
        // x̂ = z W_dec + b_dec; EV = 1 − Σ‖x − x̂‖² / Σ‖x − x̄‖².
        const mean = new Float64Array(D);
        for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) mean[d] += xs[n * D + d] / N;
        let err = 0;
        let tot = 0;
        for (let n = 0; n < N; n++)
          for (let d = 0; d < D; d++) {
            let xh = s.bDec[d];
            for (let j = 0; j < F; j++) xh += z[n * F + j] * s.wDec[j * D + d];
            err += (xs[n * D + d] - xh) ** 2;
            tot += (xs[n * D + d] - mean[d]) ** 2;
          }
        const got = ev.saes.find((e) => e.hook === h)!;
        expect(got.l0, `${h} l0`).toBeCloseTo(l0s[l0s.length - 1], 10);
        expect(got.explained_variance, `${h} EV`).toBeCloseTo(1 - err / tot, 4);
      }
      tf.dispose(Object.values(cache));
      // Not a constant k: the SAEs keep different numbers of latents.
      expect(new Set(l0s).size).toBeGreaterThan(1);
    } finally {
      set.dispose();
    }
  });
});

describe('refused layouts, by name', () => {
  const refuse =
    (layout: Layout, mutate: (c: Record<string, unknown>) => Record<string, unknown>, says: RegExp) => () => {
      const { dir } = foreignSet(layout, 'fflayer', { cfg: mutate });
      expect(() => checkSaeLensSet(inspectSaeLensSet(dir, lm.config), lm.config)).toThrow(says);
    };
  it(
    'gated',
    refuse(
      'v5-standard',
      (c) => ({ ...c, architecture: 'gated' }),
      /blocks\.\d\.\S+ is a gated SAE, which cannot be imported/,
    ),
  );
  it(
    'an unknown architecture string',
    refuse(
      'v5-standard',
      (c) => ({ ...c, architecture: 'batchtopk' }),
      /architecture 'batchtopk' in cfg\.json of \S+, which cannot be imported \(supported: standard, jumprelu, topk\)/,
    ),
  );
  it(
    'another activation function',
    refuse(
      'v5-standard',
      (c) => ({ ...c, activation_fn_str: 'tanh-relu' }),
      /uses activation_fn_str 'tanh-relu' \(architecture 'standard'/,
    ),
  );
  it(
    'normalize_activations that needs a factor the folder lacks',
    refuse(
      'v5-jumprelu',
      (c) => ({ ...c, normalize_activations: 'expected_average_only_in' }),
      /normalize_activations 'expected_average_only_in' cannot be honoured/,
    ),
  );
  it(
    'a threshold tensor under a standard cfg.json',
    refuse(
      'v5-jumprelu',
      (c) => ({ ...c, architecture: 'standard' }),
      /has a 'threshold' tensor .* describes a 'standard' \(ReLU\) SAE/,
    ),
  );
  it('a JumpReLU cfg.json without a threshold tensor', () => {
    const { dir } = foreignSet('v5-standard', 'fflayer', {
      cfg: (c) => ({ ...c, architecture: 'jumprelu' }),
    });
    expect(() => checkSaeLensSet(inspectSaeLensSet(dir, lm.config), lm.config)).toThrow(
      /is a JumpReLU SAE but sae_weights\.safetensors holds neither 'threshold' nor 'log_threshold'/,
    );
  });
  it('a folder mixing ReLU and JumpReLU SAEs', () => {
    const { dir } = foreignSet('v5-standard', 'fflayer');
    const cfg = path.join(dir, 'blocks.1.hook_mlp_out', 'cfg.json');
    fs.writeFileSync(
      cfg,
      JSON.stringify({ ...JSON.parse(fs.readFileSync(cfg, 'utf8')), architecture: 'topk', k: 2 }),
    );
    expect(() => inspectSaeLensSet(dir, lm.config)).toThrow(
      /mix activations .*blocks\.1\.hook_mlp_out: topk/,
    );
  });
});

describe('SCALAR on imported ReLU / JumpReLU pairs = the plain algorithms', () => {
  const CASES = [
    { layout: 'jb', setup: 'fflayer' },
    { layout: 'v5-jumprelu', setup: 'ffblock' },
    { layout: 'v5-jumprelu', setup: 'tblock' },
  ] as const;
  for (const c of CASES) {
    it(`${c.layout} ${c.setup} pair 0: edge scores, logits and KL at several budgets, full circuit`, async () => {
      const set = importSet(foreignSet(c.layout, c.setup).dir);
      const pair = set.pairs[0];
      const up = set.view(pair.up);
      const down = set.view(pair.down);
      const pm = new PairModel(
        lm,
        pair,
        { w: set.weights(up), k: up.k },
        { w: set.weights(down), k: down.k },
      );
      const [B, T] = [2, 6];
      const clean = pm.clean(randomTokens(9, B, T));
      // Both cores: the worker rebuilds the pair (threshold included) from what the pool sends it.
      const pool = await PairPool.start(pm, true);
      try {
        // The downstream code count varies per token (what the padded sparse codes must carry), checked on
        // the float64 full circuit: pre₁ = f(z₀), active = pre₁ > max(θ₁, 0).
        const z0 = tf.tidy(() => densify(pm.upCodes(clean), pm.f0).dataSync());
        const pre1 = pairF64(pm, B, T)(Float64Array.from(z0));
        const theta = down.threshold!.dataSync();
        const counts = Array.from({ length: B * T }, (_, n) =>
          Array.from({ length: F }, (_, j) =>
            pre1[n * F + j] > Math.max(theta[j], 0) ? 1 : 0,
          ).reduce<number>((a, b) => a + b, 0),
        );
        expect(
          Math.max(...counts) - Math.min(...counts),
          `active counts ${counts.join(' ')}`,
        ).toBeGreaterThan(0);

        for (const scaling of ['reference', 'textbook'] as const) {
          const opts = { steps: 4, scaling };
          const sumSq = new Float64Array(pm.f0 * pm.f1);
          accumulateAttributionPlain(pm, clean, opts, sumSq);
          const plain = sumSq.map(Math.sqrt);
          const fast = await finishAttribution(pm, await attributionBatchFast(pm, clean, opts), scaling);
          expect(plain.filter((v) => v > 0).length, scaling).toBeGreaterThan(pm.f0 * pm.f1 * 0.15);
          expect(maxRelDiff(fast, plain), `edge scores, ${scaling}`).toBeLessThan(1e-5);
        }
        const E = pm.f0 * pm.f1;
        const sumSq = new Float64Array(E);
        accumulateAttributionPlain(pm, clean, { steps: 4, scaling: 'reference' }, sumSq);
        const rankings = {
          ig: rankByScore(Float32Array.from(sumSq, Math.sqrt), 0),
          random: randomRanking(E, 1),
        };
        const full = await pm.fullCircuitLogits(clean);
        for (const [name, ranking] of Object.entries(rankings)) {
          const ev = await SubcircuitEvaluator.create(pm, clean, pool);
          for (const n of [1, 5, 17, 40, E]) {
            const what = `${name}, N = ${n}`;
            const plain = subcircuitLogitsPlain(pm, clean, ranking, n, { relu: false });
            const fast = await ev.logits(ranking, n, { relu: false });
            expect(maxRelDiff(fast.dataSync(), plain.dataSync()), what).toBeLessThan(1e-5);
            expectClose(
              await perTokenKl(clean.logits, fast),
              await perTokenKl(clean.logits, plain),
              { atol: 1e-6, rtol: 1e-4 },
              `${what}: KL`,
            );
            if (n === 1) expect(maxRelDiff(plain.dataSync(), full.dataSync()), what).toBeGreaterThan(1e-3);
            if (n === E)
              expect(maxRelDiff(plain.dataSync(), full.dataSync()), `${what} = full circuit`).toBeLessThan(
                1e-5,
              );
            tf.dispose([plain, fast]);
          }
        }
        full.dispose();
      } finally {
        await pool.close();
        pm.dispose();
        set.dispose();
      }
    });
  }
});
