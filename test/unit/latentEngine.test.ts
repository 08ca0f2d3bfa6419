/**
 * The latent-statistics engine on tiny models, each part against an independent computation:
 * - JSAE Jacobian entries (mean |J| and mean J per latent pair) against J = W_dec_in[K₁] · ∂segment/∂x ·
 *   W_enc_out[:, K₂] with the segment's Jacobian from tf.grad, token by token (fflayer, ffblock LN and DyT);
 * - direct logit effects against a float64 loop over the decoder rows, LN_f's γ and the embedding;
 * - computeLatentStats end to end (summary rows, histograms, top contexts with their windows, logit rows,
 *   staircase chunks) against a float64 brute force over the dense codes of every evaluation token.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { GptConfigSchema } from '../../src-shared/lm.ts';
import {
  LatentStatsConfigSchema,
  type LatentContextRow,
  type LatentLogitRow,
  type LatentRowsBatch,
  type LatentSummaryRow,
} from '../../src-shared/latents.ts';
import { computeLatentStats } from '../../src-main/engine/analysis/computeLatentStats.ts';
import { JacobianAccumulator } from '../../src-main/engine/analysis/jacobianStats.ts';
import { logitEffects, logitEffectsAt } from '../../src-main/engine/analysis/logitEffects.ts';
import { initBackend } from '../../src-main/engine/backend.ts';
import { dyt, gelu, layerNorm, linear } from '../../src-main/engine/kernels/ops.ts';
import { Gpt } from '../../src-main/engine/lm/gpt.ts';
import { Rng } from '../../src-main/engine/random.ts';
import { lmActivations } from '../../src-main/engine/sae/lmActivations.ts';
import { SaeSet } from '../../src-main/engine/sae/saeSet.ts';
import { encode } from '../../src-main/engine/sae/topk.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestRng } from './lm.helpers.ts';
import { tinyGpt } from './sae.helpers.ts';

beforeAll(async () => {
  // tf.grad through gather (the reference Jacobian) needs the cpu backend.
  await initBackend('cpu');
});

// ---------------------------------------------------------------------------------------------------------
// Jacobian entries
// ---------------------------------------------------------------------------------------------------------

const D = 8;
const k = 3;

function tinyLm(norm2: 'layernorm' | 'dyt', seed: number): Gpt {
  const gpt = Gpt.init(
    GptConfigSchema.parse({
      vocabSize: 11,
      contextLength: 4,
      dModel: D,
      nLayer: 1,
      nHead: 2,
      dMlp: 16,
      norm2,
      dytAlphaInit: 0.7,
    }),
    seed,
  );
  const rng = new Rng(seed + 1);
  for (const name of ['h.0.ln_2.weight', 'h.0.ln_2.bias', 'h.0.mlp.c_fc.bias']) {
    const v = gpt.params[name];
    v.assign(tf.add(v, tf.tensor(rng.normalArray(v.size, 0.3), v.shape)));
  }
  for (const name of ['h.0.mlp.c_fc.weight', 'h.0.mlp.c_proj.weight']) {
    const v = gpt.params[name];
    v.assign(tf.tensor(rng.normalArray(v.size, 0.4), v.shape));
  }
  return gpt;
}

function segment(gpt: Gpt, kind: 'mlp' | 'ffblock', x: tf.Tensor2D): tf.Tensor2D {
  const p = (n: string) => gpt.params[`h.0.${n}`];
  const m =
    kind === 'mlp'
      ? x
      : gpt.config.norm2 === 'dyt'
        ? dyt(x, p('ln_2.alpha'), p('ln_2.weight') as tf.Tensor1D, p('ln_2.bias') as tf.Tensor1D)
        : layerNorm(x, p('ln_2.weight') as tf.Tensor1D, p('ln_2.bias') as tf.Tensor1D, gpt.config.lnEps);
  const y = linear(
    gelu(linear(m, p('mlp.c_fc.weight') as tf.Tensor2D, p('mlp.c_fc.bias') as tf.Tensor1D)),
    p('mlp.c_proj.weight') as tf.Tensor2D,
    p('mlp.c_proj.bias') as tf.Tensor1D,
  );
  return (kind === 'mlp' ? y : tf.add(x, y)) as tf.Tensor2D;
}

/** ∂segment(x)/∂x at one token, [D_in, D_out], by tf.grad of each output coordinate. */
function segmentJacobian(gpt: Gpt, kind: 'mlp' | 'ffblock', x: tf.Tensor2D): number[][] {
  const cols: number[][] = [];
  for (let o = 0; o < D; o++) {
    const grad = tf.grad((xx: tf.Tensor) =>
      tf.sum(tf.mul(segment(gpt, kind, xx as tf.Tensor2D), tf.oneHot([o], D))),
    )(x);
    cols.push(Array.from(grad.dataSync()));
  }
  return Array.from({ length: D }, (_, i) => cols.map((c) => c[i]));
}

describe('JSAE Jacobian entries', () => {
  const cases = [
    { name: 'fflayer', setup: 'fflayer' as const, norm2: 'layernorm' as const, kind: 'mlp' as const },
    { name: 'ffblock DyT', setup: 'ffblock' as const, norm2: 'dyt' as const, kind: 'ffblock' as const },
    {
      name: 'ffblock LayerNorm',
      setup: 'ffblock' as const,
      norm2: 'layernorm' as const,
      kind: 'ffblock' as const,
    },
  ];
  for (const c of cases) {
    it(`mean |J| and mean J of every latent pair equal the autodiff Jacobian's: ${c.name}`, async () => {
      const gpt = tinyLm(c.norm2, 7);
      const set = new SaeSet({ arch: 'jsae', setup: c.setup, width: 12, k, dModel: D, nLayer: 1, seed: 3 });
      const pair = set.pairs[0];
      const N = 6;
      const xUp = tf.tensor2d(new Rng(11).normalArray(N * D), [N, D]);
      const xDown = segment(gpt, c.kind, xUp);
      const up = encode(xUp, set.weights(set.view(pair.up)), k);
      const down = encode(xDown, set.weights(set.view(pair.down)), k);
      const codesUp = { idx: up.idx.dataSync() as Int32Array, val: up.val.dataSync() as Float32Array };
      const codesDown = { idx: down.idx.dataSync() as Int32Array, val: down.val.dataSync() as Float32Array };
      const acc = await JacobianAccumulator.create(gpt, set, pair, `${c.setup}:0`);
      // Two batches, to check accumulation across them.
      await acc.add(xUp.slice([0, 0], [4, D]), sub(codesUp, 0, 4), sub(codesDown, 0, 4), k, k);
      await acc.add(xUp.slice([4, 0], [2, D]), sub(codesUp, 4, 2), sub(codesDown, 4, 2), k, k);
      const r = acc.result({ top: 1_000_000, partners: 0 });

      const wDec = set.view(pair.up).dict.wDec.arraySync() as number[][];
      const wEnc = set.view(pair.down).dict.wEnc.arraySync() as number[][];
      const absSum = new Map<string, number>();
      const sum = new Map<string, number>();
      for (let n = 0; n < N; n++) {
        const J = segmentJacobian(gpt, c.kind, xUp.slice([n, 0], [1, D]) as tf.Tensor2D);
        for (let a = 0; a < k; a++) {
          if (!(codesUp.val[n * k + a] > 0)) continue;
          const i = codesUp.idx[n * k + a];
          for (let b = 0; b < k; b++) {
            if (!(codesDown.val[n * k + b] > 0)) continue;
            const j = codesDown.idx[n * k + b];
            let v = 0;
            for (let p = 0; p < D; p++) for (let q = 0; q < D; q++) v += wDec[i][p] * J[p][q] * wEnc[q][j];
            const key = `${i},${j}`;
            absSum.set(key, (absSum.get(key) ?? 0) + Math.abs(v));
            sum.set(key, (sum.get(key) ?? 0) + v);
          }
        }
      }
      expect(r.tokens).toBe(N);
      expect(absSum.size).toBeGreaterThan(10);
      expect(r.i.length).toBe(absSum.size);
      const scale = Math.max(...absSum.values()) / N;
      for (let x = 0; x < r.i.length; x++) {
        const key = `${r.i[x]},${r.j[x]}`;
        expect(absSum.has(key), key).toBe(true);
        expect(Math.abs(r.meanAbs[x] - absSum.get(key)! / N)).toBeLessThan(1e-4 * scale);
        expect(Math.abs(r.mean[x] - sum.get(key)! / N)).toBeLessThan(1e-4 * scale);
      }
      // Ranks: by mean |J| descending.
      const order = Array.from(r.rank.keys()).sort((x, y) => r.rank[x] - r.rank[y]);
      for (let x = 1; x < order.length; x++)
        expect(r.meanAbs[order[x]]).toBeLessThanOrEqual(r.meanAbs[order[x - 1]]);
      gpt.dispose();
      set.dispose();
    });
  }

  it('keeps the top entries overall plus each latent’s strongest partners', async () => {
    const gpt = tinyLm('layernorm', 8);
    const set = new SaeSet({ arch: 'jsae', setup: 'fflayer', width: 12, k, dModel: D, nLayer: 1, seed: 4 });
    const pair = set.pairs[0];
    const N = 20;
    const xUp = tf.tensor2d(new Rng(2).normalArray(N * D), [N, D]);
    const xDown = segment(gpt, 'mlp', xUp);
    const up = encode(xUp, set.weights(set.view(pair.up)), k);
    const down = encode(xDown, set.weights(set.view(pair.down)), k);
    const acc = await JacobianAccumulator.create(gpt, set, pair, 'fflayer:0');
    const cu = { idx: up.idx.dataSync(), val: up.val.dataSync() };
    const cd = { idx: down.idx.dataSync(), val: down.val.dataSync() };
    await acc.add(xUp, cu, cd, k, k);
    const all = acc.result({ top: 1_000_000, partners: 0 });
    const some = acc.result({ top: 3, partners: 1 });
    // Expected: ranks < 3, plus the best entry of every row and of every column.
    const expected = new Set<number>();
    const bestRow = new Map<number, number>();
    const bestCol = new Map<number, number>();
    for (let x = 0; x < all.i.length; x++) {
      if (all.rank[x] < 3) expected.add(all.rank[x]);
      if (!bestRow.has(all.i[x]) || all.rank[x] < bestRow.get(all.i[x])!) bestRow.set(all.i[x], all.rank[x]);
      if (!bestCol.has(all.j[x]) || all.rank[x] < bestCol.get(all.j[x])!) bestCol.set(all.j[x], all.rank[x]);
    }
    for (const r of [...bestRow.values(), ...bestCol.values()]) expected.add(r);
    expect(new Set(some.rank)).toEqual(expected);
    gpt.dispose();
    set.dispose();
  });
});

function sub(c: { idx: Int32Array; val: Float32Array }, from: number, n: number) {
  return { idx: c.idx.subarray(from * k, (from + n) * k), val: c.val.subarray(from * k, (from + n) * k) };
}

// ---------------------------------------------------------------------------------------------------------
// Logit effects
// ---------------------------------------------------------------------------------------------------------

/** Float64: (w − mean w) ⊙ γ · wte[v] for every v, centred over v. */
function effects64(
  w: ArrayLike<number>,
  gamma: ArrayLike<number>,
  wte: ArrayLike<number>,
  V: number,
  Dm: number,
) {
  let mean = 0;
  for (let d = 0; d < Dm; d++) mean += w[d] / Dm;
  const e = new Float64Array(V);
  for (let v = 0; v < V; v++) for (let d = 0; d < Dm; d++) e[v] += (w[d] - mean) * gamma[d] * wte[v * Dm + d];
  const m = e.reduce((a, b) => a + b, 0) / V;
  return Array.from(e, (x) => x - m);
}

describe('direct logit effects', () => {
  it('top and bottom tokens and values equal a float64 loop', async () => {
    const gpt = tinyGpt({ dModel: 8, seed: 5, embedStd: 0.5 });
    const rng = new TestRng(6);
    gpt.params['ln_f.weight'].assign(tf.tensor(rng.normals(8, 0.5, 1)));
    const F = 5;
    const wDec = rng.normals(F * 8);
    const n = 4;
    const r = await logitEffects(gpt, wDec, F, n);
    const gamma = gpt.params['ln_f.weight'].dataSync();
    const wte = gpt.params['wte.weight'].dataSync();
    for (let f = 0; f < F; f++) {
      const e = effects64(wDec.subarray(f * 8, (f + 1) * 8), gamma, wte, 128, 8);
      const order = e.map((v, id) => ({ v, id })).sort((a, b) => b.v - a.v);
      expect(Array.from(r.topIds.subarray(f * n, (f + 1) * n))).toEqual(order.slice(0, n).map((x) => x.id));
      expect(Array.from(r.bottomIds.subarray(f * n, (f + 1) * n))).toEqual(
        order
          .slice(-n)
          .reverse()
          .map((x) => x.id),
      );
      for (let x = 0; x < n; x++) {
        expect(r.topValues[f * n + x]).toBeCloseTo(order[x].v, 4);
        expect(r.bottomValues[f * n + x]).toBeCloseTo(order[order.length - 1 - x].v, 4);
      }
    }
    gpt.dispose();
  });

  it('exists for residual-stream hooks and is refused, with a reason, at the normalised MLP input', () => {
    for (const h of [
      'blocks.0.hook_resid_pre',
      'blocks.2.hook_resid_mid',
      'blocks.3.hook_resid_post',
      'blocks.1.hook_mlp_out',
    ])
      expect(logitEffectsAt(h).available).toBe(true);
    const ln2 = logitEffectsAt('blocks.1.ln2.hook_normalized');
    expect(ln2.available).toBe(false);
    expect(ln2.note).toMatch(/not the residual stream/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// computeLatentStats end to end
// ---------------------------------------------------------------------------------------------------------

describe('computeLatentStats', () => {
  for (const arch of ['topk', 'staircase', 'relu'] as const) {
    it(`${arch} tblock: summaries, histograms, contexts and logits equal a brute force over all tokens`, async () => {
      const T = 16;
      const S = 12;
      const gpt = tinyGpt({ dModel: 8, nLayer: 1, contextLength: T, seed: 3, embedStd: 1 });
      const set = new SaeSet({ arch, setup: 'tblock', width: 8, k: 3, dModel: 8, nLayer: 1, seed: 2 });
      const rng = new TestRng(21);
      const inputs = rng.ints(S * T, 128);
      const windows = {
        inputs,
        targets: inputs,
        starts: new Int32Array(S),
        batchSize: S,
        contextLength: T,
      };
      const config = LatentStatsConfigSchema.parse({
        sae: 'test',
        seqs: S,
        batchSize: 5,
        topContexts: 4,
        quantileBuckets: 2,
        samplesPerBucket: 1,
        contextBefore: 3,
        contextAfter: 2,
        logitTokens: 3,
        denseThreshold: 0.3,
      });
      const batches: LatentRowsBatch[] = [];
      const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-latent-engine-'));
      const summary = await computeLatentStats({
        lm: gpt,
        set,
        config,
        windows,
        scratchDir: scratch,
        emit: (b) => batches.push(b),
      });
      expect(batches[0]).toEqual({
        reset: true,
        windows: { seqs: S, seqLen: T, tokenizer: 'ascii', ids: Int32Array.from(inputs) },
      });
      expect(fs.readdirSync(scratch)).toEqual([]); // scratch codes deleted
      fs.rmSync(scratch, { recursive: true });
      expect(summary.tokens).toBe(S * T);

      // Brute force: every token's codes in one go (the SAE encode is not what is under test here).
      const acts = lmActivations(
        gpt,
        windows,
        set.views.map((v) => v.hook),
      );
      for (const v of set.views) {
        const codes = encode(acts[v.hook], set.weights(v), v.k);
        const idx = codes.idx.dataSync();
        const val = codes.val.dataSync();
        const N = S * T;
        const dense = new Float64Array(N * v.width);
        for (let t = 0; t < N; t++)
          for (let s = 0; s < v.k; s++)
            if (val[t * v.k + s] > 0) dense[t * v.width + idx[t * v.k + s]] = val[t * v.k + s];
        const hookRow = batches.flatMap((b) => b.hooks ?? []).find((h) => h.hook === v.hook)!;
        const rows = batches.filter((b) => b.summaries?.hook === v.hook).flatMap((b) => b.summaries!.rows);
        const perLatent = batches.filter((b) => b.contexts?.hook === v.hook).flatMap((b) => b.contexts!.rows);
        // One row per latent, in latent order, top contexts first.
        expect(perLatent.map((r) => r.latent)).toEqual(
          [...perLatent.map((r) => r.latent)].sort((x, y) => x - y),
        );
        for (const r of perLatent) {
          const kinds = r.contexts.map((c) => c.kind);
          expect(kinds).toEqual([...kinds].sort((x, y) => (x === y ? 0 : x === 'top' ? -1 : 1)));
        }
        const contexts = perLatent.flatMap((r) => r.contexts.map((c) => ({ latent: r.latent, ...c })));
        const logits = batches.filter((b) => b.logits?.hook === v.hook).flatMap((b) => b.logits!.rows);
        expect(rows.map((r) => r.latent)).toEqual(Array.from({ length: v.width }, (_, f) => f));
        let dead = 0;
        let dense_ = 0;
        for (let f = 0; f < v.width; f++) {
          const active = [];
          for (let t = 0; t < N; t++)
            if (dense[t * v.width + f] > 0) active.push({ token: t, act: dense[t * v.width + f] });
          const r: LatentSummaryRow = rows[f];
          expect(r.count).toBe(active.length);
          expect(r.freq).toBeCloseTo(active.length / N, 12);
          expect(r.dead).toBe(active.length === 0);
          expect(r.dense).toBe(active.length / N > 0.3);
          dead += active.length === 0 ? 1 : 0;
          dense_ += active.length / N > 0.3 ? 1 : 0;
          expect(r.chunk).toBe(arch === 'staircase' ? Math.floor(f / 8) : null);
          if (active.length) {
            expect(r.meanAct!).toBeCloseTo(active.reduce((a, x) => a + x.act, 0) / active.length, 5);
            expect(r.maxAct).toBe(Math.max(...active.map((x) => x.act)));
            expect(r.hist.reduce((a, b) => a + b, 0)).toBe(active.length);
          }
          // Top contexts: windows of the 4 strongest tokens.
          const top = [...active].sort((x, y) => y.act - x.act || x.token - y.token).slice(0, 4);
          const got = contexts
            .filter((c) => c.latent === f && c.kind === 'top')
            .sort((a, b) => a.index - b.index);
          expect(got.map((c: LatentContextRow) => c.seq * T + c.pos)).toEqual(top.map((x) => x.token));
          for (const c of got) {
            const start = Math.max(0, c.pos - 3);
            const end = Math.min(T - 1, c.pos + 2);
            expect([c.start, c.len]).toEqual([start, end - start + 1]);
            const want = [];
            for (let t = start; t <= end; t++) want.push(dense[(c.seq * T + t) * v.width + f]);
            expect(Array.from(c.acts)).toEqual(want);
          }
        }
        expect([hookRow.dead, hookRow.dense, hookRow.tokens, hookRow.width]).toEqual([
          dead,
          dense_,
          N,
          v.width,
        ]);
        // The case is not trivial: most latents fire more often than the 4 contexts kept.
        expect(rows.filter((r) => r.count > 4).length).toBeGreaterThan(v.width / 2);
        expect(contexts.some((c) => c.kind === 'quantile')).toBe(true);
        expect(hookRow.chunk).toBe(arch === 'staircase' ? 8 : null);
        // Logits (resid_pre / resid_post are residual-stream hooks).
        const wDec = set.weights(v).wDec.dataSync();
        const gamma = gpt.params['ln_f.weight'].dataSync();
        const wte = gpt.params['wte.weight'].dataSync();
        for (const f of [0, v.width - 1]) {
          const e = effects64(wDec.subarray(f * 8, (f + 1) * 8), gamma, wte, 128, 8);
          const order = e.map((x, id) => ({ x, id })).sort((a, b) => b.x - a.x);
          const mine = logits.find((l: LatentLogitRow) => l.latent === f)!;
          expect(Array.from(mine.topIds)).toEqual(order.slice(0, 3).map((o) => o.id));
          expect(Array.from(mine.bottomIds)).toEqual(
            order
              .slice(-3)
              .reverse()
              .map((o) => o.id),
          );
          expect(mine.topValues[0]).toBeCloseTo(order[0].x, 4);
        }
        expect(logits.map((l) => l.latent)).toEqual(Array.from({ length: v.width }, (_, f) => f));
      }
      tf.dispose(Object.values(acts));
      gpt.dispose();
      set.dispose();
    });
  }
});
