/**
 * SAELens export / import (SPEC §3, io/saelens.ts): per-hook folders round-trip bit-exactly, a staircase
 * position's folder holds the dictionary prefix (sliced here in JS, not with tf.slice) and its own biases,
 * the shared staircase form holds the whole dictionary and every position's biases, and a folder whose
 * weights disagree with cfg.json is rejected. Importing a folder of SAELens SAEs (io/saelensImport.ts) rebuilds
 * the exported set bit-exactly for every architecture, reads foreign TopK SAEs (TransformerLens resid_post
 * names, apply_b_dec_to_input false), and refuses folders that are not one setup of the model.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { SaeArch } from '../../src-shared/sae.ts';
import { initBackend } from '../../src-main/engine/backend.ts';
import { readSafetensorsFile } from '../../src-main/engine/io/safetensors.ts';
import {
  exportSaeSet,
  readSaeLens,
  SAE_CFG_FILE,
  SAE_WEIGHTS_FILE,
  STAIRCASE_FILE,
  writeSaeLens,
} from '../../src-main/engine/io/saelens.ts';
import { hookAliases, inspectSaeLensSet, loadSaeLensSet } from '../../src-main/engine/io/saelensImport.ts';
import { SaeSet } from '../../src-main/engine/sae/saeSet.ts';
import { preActivations64, toSae64 } from './sae.helpers.ts';
import { TestRng } from './lm.helpers.ts';

const D = 8;
const n = 12;
const META = { runId: 'sae-test-run', modelName: 'tiny', contextSize: 16 };
let tmp: string;

beforeAll(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-saelens-'));
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A set over a 2-layer model with every bias set to distinct random values (zeros would hide mix-ups). */
function randomSet(arch: SaeArch, setup: 'tblock' | 'fflayer' | 'ffblock' = 'tblock'): SaeSet {
  const set = new SaeSet({ arch, setup, width: n, k: 3, dModel: D, nLayer: 2, seed: 9 });
  const rng = new TestRng(arch.length + 7);
  for (const v of Object.values(set.params())) if (v.rank === 1) v.assign(tf.tensor1d(rng.normals(v.size)));
  return set;
}

/** Bitwise equality of float32 data (toEqual would accept −0 for 0 and fail on NaN). */
function expectBits(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  const a = new Uint32Array(Float32Array.from(actual).buffer);
  const e = new Uint32Array(Float32Array.from(expected).buffer);
  expect(a.length, `${what}: length`).toBe(e.length);
  const bad = a.findIndex((x, i) => x !== e[i]);
  expect(bad, `${what}: first differing element`).toBe(-1);
}

/** The first `w` latents of a dictionary, sliced in plain JS: W_enc [D, N] → [D, w], W_dec [N, D] → [w, D]. */
function prefix(encAll: Float32Array, decAll: Float32Array, N: number, w: number) {
  const enc = new Float32Array(D * w);
  for (let d = 0; d < D; d++) enc.set(encAll.subarray(d * N, d * N + w), d * w);
  return { enc, dec: decAll.slice(0, w * D) };
}

describe('SAELens round trip', () => {
  it('TopK: every hook folder reads back bit-exactly with a SAELens cfg.json', async () => {
    const set = randomSet('topk');
    const dir = path.join(tmp, 'topk');
    const written = await exportSaeSet(dir, set, META);
    expect(written).toEqual(set.views.map((v) => v.hook));
    for (const v of set.views) {
      const { cfg, weights } = readSaeLens(path.join(dir, v.hook));
      expect(cfg).toMatchObject({
        architecture: 'topk',
        d_in: D,
        d_sae: n,
        k: 3,
        hook_name: v.hook,
        hook_layer: Number(v.hook.split('.')[1]),
        activation_fn_kwargs: { k: 3 },
        context_size: 16,
        model_name: 'tiny',
        scalar: { arch: 'topk', setup: 'tblock', run_id: 'sae-test-run' },
      });
      expect(cfg.scalar.staircase).toBeUndefined();
      expect(weights.wEnc.shape).toEqual([D, n]);
      expect(weights.wDec.shape).toEqual([n, D]);
      expectBits(weights.wEnc.dataSync(), v.dict.wEnc.dataSync(), `${v.hook} W_enc`);
      expectBits(weights.wDec.dataSync(), v.dict.wDec.dataSync(), `${v.hook} W_dec`);
      expectBits(weights.bEnc.dataSync(), v.bEnc.dataSync(), `${v.hook} b_enc`);
      expectBits(weights.bDec.dataSync(), v.bDec.dataSync(), `${v.hook} b_dec`);
      tf.dispose(Object.values(weights));
    }
    // No shared staircase form for TopK.
    expect(fs.readdirSync(dir).sort()).toEqual([...set.views.map((v) => v.hook)].sort());
    set.dispose();
  });

  for (const arch of ['staircase', 'staircase-shared-bias'] as const) {
    it(`${arch}: positions hold the dictionary prefix and their own biases; the shared form holds it all`, async () => {
      const set = randomSet(arch);
      const dir = path.join(tmp, arch);
      const written = await exportSaeSet(dir, set, META);
      expect(written).toEqual([...set.views.map((v) => v.hook), 'staircase']);
      const dict = set.dictionaries[0];
      const N = dict.wDec.shape[0];
      expect(N).toBe(3 * n); // tblock on 2 layers: 3 positions
      const encAll = dict.wEnc.dataSync() as Float32Array;
      const decAll = dict.wDec.dataSync() as Float32Array;
      set.views.forEach((v, p) => {
        const { cfg, weights } = readSaeLens(path.join(dir, v.hook));
        const w = n * (p + 1);
        expect(cfg).toMatchObject({
          architecture: 'topk',
          d_in: D,
          d_sae: w,
          k: 3,
          hook_name: v.hook,
          scalar: { arch, staircase: { name: 'staircase', position: p, chunk: n } },
        });
        const want = prefix(encAll, decAll, N, w);
        expectBits(weights.wEnc.dataSync(), want.enc, `${v.hook} W_enc`);
        expectBits(weights.wDec.dataSync(), want.dec, `${v.hook} W_dec`);
        expectBits(weights.bEnc.dataSync(), v.bEnc.dataSync(), `${v.hook} b_enc`);
        expectBits(weights.bDec.dataSync(), v.bDec.dataSync(), `${v.hook} b_dec`);
        tf.dispose(Object.values(weights));
      });

      const shared = readSafetensorsFile(path.join(dir, 'staircase', STAIRCASE_FILE));
      expect(Object.keys(shared.tensors).sort()).toEqual(
        ['W_enc', 'W_dec', 'b_enc.0', 'b_dec.0', 'b_enc.1', 'b_dec.1', 'b_enc.2', 'b_dec.2'].sort(),
      );
      expect(shared.tensors.W_enc.shape).toEqual([D, N]);
      expect(shared.tensors.W_dec.shape).toEqual([N, D]);
      expectBits(shared.tensors.W_enc.data as Float32Array, encAll, 'shared W_enc');
      expectBits(shared.tensors.W_dec.data as Float32Array, decAll, 'shared W_dec');
      set.views.forEach((v, p) => {
        expect(shared.tensors[`b_enc.${p}`].shape).toEqual([n * (p + 1)]);
        expectBits(shared.tensors[`b_enc.${p}`].data as Float32Array, v.bEnc.dataSync(), `b_enc.${p}`);
        expectBits(shared.tensors[`b_dec.${p}`].data as Float32Array, v.bDec.dataSync(), `b_dec.${p}`);
      });
      if (arch === 'staircase-shared-bias') {
        // One b_dec variable, written once per position.
        expectBits(
          shared.tensors['b_dec.0'].data as Float32Array,
          shared.tensors['b_dec.2'].data as Float32Array,
          'shared b_dec',
        );
      } else {
        expect(Array.from(shared.tensors['b_dec.0'].data as Float32Array)).not.toEqual(
          Array.from(shared.tensors['b_dec.1'].data as Float32Array),
        );
      }
      const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'staircase', SAE_CFG_FILE), 'utf8'));
      expect(cfg).toMatchObject({
        architecture: 'staircase',
        variant: arch,
        d_in: D,
        d_sae: N,
        chunk: n,
        k: 3,
        hooks: set.views.map((v) => v.hook),
        widths: [n, 2 * n, 3 * n],
        shared_b_dec: arch === 'staircase-shared-bias',
      });
      set.dispose();
    });
  }

  it('ffblock staircase: one shared file per layer', async () => {
    const set = randomSet('staircase', 'ffblock');
    const dir = path.join(tmp, 'ffblock');
    const written = await exportSaeSet(dir, set, META);
    expect(written.filter((f) => f.startsWith('staircase'))).toEqual(['staircase0', 'staircase1']);
    for (let l = 0; l < 2; l++) {
      const shared = readSafetensorsFile(path.join(dir, `staircase${l}`, STAIRCASE_FILE));
      expect(shared.tensors.W_dec.shape).toEqual([2 * n, D]);
      expectBits(
        shared.tensors.W_dec.data as Float32Array,
        set.dictionaries[l].wDec.dataSync(),
        `layer ${l}`,
      );
    }
    set.dispose();
  });
});

describe('readSaeLens rejects inconsistent folders', () => {
  it('a W_enc whose shape disagrees with cfg.json, naming the tensor and both shapes', async () => {
    const set = randomSet('topk');
    const dir = path.join(tmp, 'bad');
    await exportSaeSet(dir, set, META);
    const folder = path.join(dir, set.views[0].hook);
    const cfgPath = path.join(folder, SAE_CFG_FILE);
    const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
    fs.writeFileSync(cfgPath, JSON.stringify({ ...cfg, d_sae: n + 4 }));
    expect(() => readSaeLens(folder)).toThrow(/W_enc.*expected F32 \[8,16\], got F32 \[8,12\]/);
    // A folder without cfg.json, and a cfg.json without k, are rejected too.
    fs.rmSync(cfgPath);
    expect(() => readSaeLens(folder)).toThrow(/not a SAELens folder \(no cfg\.json\)/);
    const { k: _k, activation_fn_kwargs: _a, ...noK } = cfg;
    fs.writeFileSync(cfgPath, JSON.stringify(noK));
    expect(() => readSaeLens(folder)).toThrow(/gives no TopK k/);
    expect(fs.existsSync(path.join(folder, SAE_WEIGHTS_FILE))).toBe(true);
    set.dispose();
  });
});

const LM = { dModel: D, nLayer: 2 };

describe('importing a folder of SAELens SAEs', () => {
  const cases: [SaeArch, 'tblock' | 'fflayer' | 'ffblock'][] = [
    ['topk', 'tblock'],
    ['topk', 'fflayer'],
    ['jsae', 'ffblock'],
    ['staircase', 'tblock'],
    ['staircase', 'ffblock'],
    ['staircase-detach', 'tblock'],
    ['staircase-untied', 'tblock'],
    ['staircase-tied-all', 'tblock'],
    ['staircase-shared-bias', 'tblock'],
  ];
  for (const [arch, setup] of cases) {
    it(`${arch} ${setup}: export → import rebuilds every parameter bit-exactly`, async () => {
      const set = randomSet(arch, setup);
      const dir = path.join(tmp, `import-${arch}-${setup}`);
      await exportSaeSet(dir, set, META);
      const info = inspectSaeLensSet(dir, LM);
      expect({ arch: info.arch, setup: info.setup, width: info.width, k: info.k }).toEqual({
        arch,
        setup,
        width: n,
        k: 3,
      });
      const loaded = loadSaeLensSet(info, LM);
      const want = set.params();
      const got = loaded.params();
      expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
      for (const [name, v] of Object.entries(want)) expectBits(got[name].dataSync(), v.dataSync(), name);
      loaded.dispose();
      set.dispose();
    });
  }

  it('foreign TopK SAEs: either name of a residual position is accepted; apply_b_dec_to_input false is folded into b_enc', async () => {
    expect(hookAliases('blocks.0.hook_resid_post', 2)).toEqual([
      'blocks.0.hook_resid_post',
      'blocks.1.hook_resid_pre',
    ]);
    expect(hookAliases('blocks.1.hook_resid_pre', 2)).toEqual([
      'blocks.1.hook_resid_pre',
      'blocks.0.hook_resid_post',
    ]);
    expect(hookAliases('blocks.1.hook_resid_post', 2)).toEqual(['blocks.1.hook_resid_post']);
    expect(hookAliases('blocks.0.hook_resid_pre', 2)).toEqual(['blocks.0.hook_resid_pre']);
    const F = 6;
    const rng = new TestRng(41);
    const dir = path.join(tmp, 'foreign');
    const names = ['blocks.0.hook_resid_pre', 'blocks.0.hook_resid_post', 'blocks.1.hook_resid_post'];
    const raw = names.map(() => ({
      wEnc: rng.normals(D * F),
      bEnc: rng.normals(F),
      wDec: rng.normals(F * D),
      bDec: rng.normals(D),
    }));
    for (const [i, hook] of names.entries()) {
      const cfg = {
        architecture: 'topk',
        d_in: D,
        d_sae: F,
        hook_name: hook,
        activation_fn_kwargs: { k: 2 },
        apply_b_dec_to_input: false,
      };
      const w = raw[i];
      await writeSaeLens(path.join(dir, `sae${i}`), cfg as never, {
        wEnc: tf.tensor2d(w.wEnc, [D, F]),
        bEnc: tf.tensor1d(w.bEnc),
        wDec: tf.tensor2d(w.wDec, [F, D]),
        bDec: tf.tensor1d(w.bDec),
      });
    }
    const info = inspectSaeLensSet(dir, LM);
    expect({ arch: info.arch, setup: info.setup, width: info.width, k: info.k }).toEqual({
      arch: 'topk',
      setup: 'tblock',
      width: F,
      k: 2,
    });
    const loaded = loadSaeLensSet(info, LM);
    // Their encoder sees x·W_enc + b_enc; ours (x − b_dec)·W_enc + b_enc′ must give the same pre-activations.
    const x = rng.normals(5 * D);
    ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_pre', 'blocks.1.hook_resid_post'].forEach((hook, i) => {
      const theirs = preActivations64(x, D, F, toSae64({ ...raw[i], bDec: new Float64Array(D) }));
      const v = loaded.view(hook);
      const w = loaded.weights(v);
      const ours = preActivations64(
        x,
        D,
        F,
        toSae64({
          wEnc: w.wEnc.dataSync(),
          bEnc: w.bEnc.dataSync(),
          wDec: w.wDec.dataSync(),
          bDec: w.bDec.dataSync(),
        }),
      );
      for (let j = 0; j < theirs.length; j++) expect(ours[j]).toBeCloseTo(theirs[j], 4);
      expectBits(w.bDec.dataSync(), raw[i].bDec, `${hook} b_dec`);
    });
    loaded.dispose();
  });

  it('refuses folders that are not one setup of this model, naming the problem', async () => {
    const set = randomSet('staircase');
    const dir = path.join(tmp, 'refused');
    await exportSaeSet(dir, set, META);
    expect(() => inspectSaeLensSet(dir, { dModel: D + 1, nLayer: 2 })).toThrow(
      /d_in 8 does not match the language model's d_model 9/,
    );
    expect(() => inspectSaeLensSet(dir, { dModel: D, nLayer: 3 })).toThrow(
      /not one complete setup of this 3-layer model/,
    );

    // A position whose copy of a shared latent differs is not a slice of the shared dictionary.
    const pos2 = path.join(dir, 'blocks.1.hook_resid_pre');
    const { cfg, weights } = readSaeLens(pos2);
    const dec = weights.wDec.dataSync() as Float32Array;
    dec[3 * D + 1] += 0.5; // latent 3 lives in chunk 0, shared with positions 0 and 1
    await writeSaeLens(pos2, cfg, { ...weights, wDec: tf.tensor2d(dec, weights.wDec.shape) });
    const info = inspectSaeLensSet(dir, LM);
    expect(() => loadSaeLensSet(info, LM)).toThrow(
      /latent 3 of blocks\.1\.hook_resid_pre differs .* not slices of one/,
    );

    // One hook missing; then two folders for one hook.
    fs.rmSync(pos2, { recursive: true });
    expect(() => inspectSaeLensSet(dir, LM)).toThrow(/not one complete setup/);
    fs.cpSync(path.join(dir, 'blocks.0.hook_resid_pre'), path.join(dir, 'copy'), { recursive: true });
    expect(() => inspectSaeLensSet(dir, LM)).toThrow(/two SAEs for blocks\.0\.hook_resid_pre/);
    expect(() => inspectSaeLensSet(path.join(tmp, 'nowhere'), LM)).toThrow(/is not a folder/);
    set.dispose();
  });
});
