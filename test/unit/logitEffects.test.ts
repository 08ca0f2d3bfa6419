/**
 * Direct logit effects at GPT-2 width (issue 12 item 7): the [F, V] matrix is never held, latents go in row blocks
 * and each row's top / bottom tokens are picked in one scan; blocked results equal one block, and the scan equals a
 * full sort (ties by lower token id). The values themselves are checked against float64 in latentEngine.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { logitEffects, rowExtremes } from '../../src-main/engine/analysis/logitEffects.ts';
import { initBackend } from '../../src-main/engine/backend.ts';
import { TestRng } from './lm.helpers.ts';
import { tinyGpt } from './sae.helpers.ts';

beforeAll(async () => {
  await initBackend();
});

describe('blocked logit effects', () => {
  it('in row blocks (as at F 24,576 × V 50,257) equals the same effects computed in one block', async () => {
    const gpt = tinyGpt({ dModel: 8, seed: 7, embedStd: 0.5 });
    const F = 23;
    const wDec = new TestRng(8).normals(F * 8);
    const whole = await logitEffects(gpt, wDec, F, 6, { blockRows: F });
    for (const blockRows of [1, 4, 10]) {
      const r = await logitEffects(gpt, wDec, F, 6, { blockRows });
      expect(Array.from(r.topIds)).toEqual(Array.from(whole.topIds));
      expect(Array.from(r.bottomIds)).toEqual(Array.from(whole.bottomIds));
      expect(Array.from(r.topValues)).toEqual(Array.from(whole.topValues));
    }
    gpt.dispose();
  });

  it("picks each row's extremes as a full sort does, ties by lower column", () => {
    const rng = new TestRng(9);
    const rows = 7;
    const V = 300;
    const m = 5;
    // Rounded values, so ties happen.
    const values = Float32Array.from(rng.normals(rows * V), (x) => Math.round(x * 4) / 4);
    const out = {
      topIds: new Int32Array(rows * m),
      topValues: new Float32Array(rows * m),
      bottomIds: new Int32Array(rows * m),
      bottomValues: new Float32Array(rows * m),
      n: m,
    };
    rowExtremes(values, rows, V, m, out);
    for (let r = 0; r < rows; r++) {
      const row = Array.from(values.subarray(r * V, (r + 1) * V), (v, id) => ({ v, id }));
      const desc = [...row].sort((a, b) => b.v - a.v || a.id - b.id).slice(0, m);
      const asc = [...row].sort((a, b) => a.v - b.v || a.id - b.id).slice(0, m);
      expect(Array.from(out.topIds.subarray(r * m, (r + 1) * m))).toEqual(desc.map((x) => x.id));
      expect(Array.from(out.bottomIds.subarray(r * m, (r + 1) * m))).toEqual(asc.map((x) => x.id));
      expect(Array.from(out.bottomValues.subarray(r * m, (r + 1) * m))).toEqual(asc.map((x) => x.v));
    }
  });
});
