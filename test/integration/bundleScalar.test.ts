/**
 * A bundle carries everything SCALAR needs: a tiny LM and a TopK SAE run trained here, exported with their
 * dependencies, imported into a fresh data dir, and evaluated there. The SCALAR run on the imported SAEs must
 * equal the one on the originals (same weights, same seeds: the same numbers, not merely similar ones).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScalarService } from '../../src-main/api/service.ts';
import { exportBundle, importBundle } from '../../src-main/store/bundle.ts';
import { lmJobFromOptions, saeJobFromOptions, scalarJobFromOptions } from '../../src-shared/jobBuilders.ts';

function built<S>(b: { ok: true; spec: S } | { ok: false; issues: { message: string }[] }): S {
  if (!b.ok) throw new Error(b.issues.map((i) => i.message).join('; '));
  return b.spec;
}

async function complete(service: ScalarService, spec: Parameters<ScalarService['jobs']['submit']>[0]) {
  const run = service.jobs.submit(spec);
  const done = await service.jobs.wait(run.id);
  expect(done.status, done.error ?? '').toBe('completed');
  return done;
}

let tmp: string;
let source: ScalarService;
let target: ScalarService;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-bundle-eval-'));
  source = new ScalarService({ dataDir: path.join(tmp, 'source'), mode: 'cli', autoLatentStats: false });
  target = new ScalarService({ dataDir: path.join(tmp, 'target'), mode: 'cli', autoLatentStats: false });
});
afterAll(async () => {
  await source?.close();
  await target?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('bundle → SCALAR on another data dir', () => {
  it('evaluates imported SAEs exactly as the originals', async () => {
    const lm = await complete(source, built(lmJobFromOptions({ preset: 'quick', steps: 30 })));
    const sae = await complete(
      source,
      built(
        saeJobFromOptions({ lm: lm.id, arch: 'topk', setup: 'tblock', steps: 20, batchSize: 8, seqLen: 32 }),
      ),
    );
    const scalarSpec = (saeId: string) =>
      built(scalarJobFromOptions({ sae: saeId, attributionSeqs: 2, evalSeqs: 2, bootstrap: 10, steps: 2 }));
    const here = await complete(source, scalarSpec(sae.id));

    const zip = path.join(tmp, 'sae.zip');
    const exported = await exportBundle(source.store, [sae.id], zip, { withDeps: true });
    expect(new Set(exported.runs)).toEqual(new Set([lm.id, sae.id]));
    const imported = await importBundle(target.store, zip);
    expect(new Set(imported.imported)).toEqual(new Set([lm.id, sae.id]));

    const there = await complete(target, scalarSpec(sae.id));
    type Pairs = { eval_result_metrics: { pairs: Record<string, number>[] } };
    const pairs = (r: { summary: unknown }) => (r.summary as Pairs).eval_result_metrics.pairs;
    expect(pairs(there).length).toBeGreaterThan(0);
    for (const [a, b] of pairs(here).map((p, i) => [p, pairs(there)[i]] as const)) {
      expect(b.scalar_auc_abs).toBe(a.scalar_auc_abs);
      expect(b.scalar_auc_rel).toBe(a.scalar_auc_rel);
      expect(Number.isFinite(a.scalar_auc_abs)).toBe(true);
    }
    expect(target.store.getScalarCurves(there.id)).toEqual(source.store.getScalarCurves(here.id));
  });
});
