/**
 * The latent-stats job end to end on the bundled toy model, through the Api: a quick JSAE fflayer SAE run
 * (30 steps) completes, its latent statistics are queued automatically (the service owns the queue) and run in
 * a worker with progress events; the stored frequencies, maxima and top contexts agree with a brute force over
 * the same evaluation windows (the LM and SAEs re-run here, every token's codes aggregated in plain loops); the
 * JSAE Jacobian entries and the logit-effect rules per hook are in place; a second run on demand is cancelled
 * mid-way and resumed, restarting cleanly.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScalarService } from '../../src-main/api/service.ts';
import { initBackend } from '../../src-main/engine/backend.ts';
import { loadLmModel } from '../../src-main/engine/io/lmCheckpoint.ts';
import { loadSaeSet } from '../../src-main/engine/sae/checkpoint.ts';
import { lmActivations } from '../../src-main/engine/sae/lmActivations.ts';
import { encode } from '../../src-main/engine/sae/topk.ts';
import { asciiTokenizer, evalBatches, loadCorpus, prepareSplits } from '../../src-main/engine/text/index.ts';
import { bundledModelsDir } from '../../src-main/resources.ts';
import { runArtifactsDir, type RunRecord } from '../../src-main/store/index.ts';
import type { JobEvent, JobProgress } from '../../src-shared/jobs.ts';
import { SaeTrainConfigSchema, type SaeTrainConfig } from '../../src-shared/sae.ts';

const LM = 'resources:ascii-64x4-brown';
let tmp: string;
let service: ScalarService;
let sae: RunRecord;
let saeConfig: SaeTrainConfig;
let stats: RunRecord;
const events: JobEvent[] = [];

/** Resolves when a run of `kind` appears and reaches a final status. */
async function settled(id: string): Promise<RunRecord> {
  for (;;) {
    const r = service.store.requireRun(id);
    if (!['queued', 'running'].includes(r.status)) return r;
    await new Promise((res) => setTimeout(res, 200));
  }
}

beforeAll(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-latents-job-'));
  service = new ScalarService({ dataDir: tmp, mode: 'cli', adoptQueued: true });
  service.onEvent((e) => events.push(e));
  saeConfig = SaeTrainConfigSchema.parse({
    preset: 'test',
    lm: LM,
    arch: 'jsae',
    setup: 'fflayer',
    schedule: { steps: 30, batchSize: 8, seqLen: 32, warmupSteps: 3, evalEvery: 30, evalBatches: 1 },
  });
  const submitted = service.jobs.submit({ kind: 'train-sae', config: saeConfig }, { name: 'jsae quick' });
  sae = await service.jobs.wait(submitted.id);
  expect(sae.status, sae.error ?? '').toBe('completed');
  // Queued by the completion itself.
  const child = service.store.childrenOf(sae.id).find((c) => c.kind === 'latents');
  expect(child).toBeDefined();
  stats = await settled(child!.id);
  expect(stats.status, stats.error ?? '').toBe('completed');
  console.log(
    `latent-stats job on a JSAE fflayer run (8 SAEs × 512 latents, 128 × 128 tokens): ${stats.wallSeconds?.toFixed(1)} s wall`,
    JSON.stringify((stats.summary as { seconds: unknown }).seconds),
  );
}, 240_000);

afterAll(async () => {
  await service?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('latent-stats job', () => {
  it('is a child run of the SAE run with progress events (step, total, rate, ETA, phase)', () => {
    expect(stats.kind).toBe('latents');
    expect(stats.parentId).toBe(sae.id);
    expect([stats.arch, stats.setup]).toEqual(['jsae', 'fflayer']);
    const progress = events
      .filter(
        (e): e is Extract<JobEvent, { type: 'progress' }> => e.type === 'progress' && e.runId === stats.id,
      )
      .map((e) => e.progress as JobProgress);
    expect(progress.length).toBeGreaterThan(1);
    const last = progress[progress.length - 1];
    expect(last.step).toBe(last.total);
    expect(last.total).toBe(8 + 8); // 128 windows in batches of 16, then 8 SAEs
    expect(
      progress.some((p) => p.phase === 'activations' && p.etaSeconds !== null && p.stepsPerSecond > 0),
    ).toBe(true);
    for (let x = 1; x < progress.length; x++)
      expect(progress[x].step).toBeGreaterThanOrEqual(progress[x - 1].step);
    // Scratch codes are gone.
    expect(fs.existsSync(path.join(runArtifactsDir(tmp, stats.id), 'scratch'))).toBe(false);
  });

  it('stores frequencies, maxima and top contexts equal to a brute force over the evaluation windows', async () => {
    const hooks = await service.call('latents.hooks', { run: sae.id });
    expect(hooks.statsRun?.id).toBe(stats.id);
    expect(hooks.hooks.map((h) => h.hook)).toEqual(
      (sae.summary as { saes: { hook: string }[] }).saes.map((s) => s.hook),
    );
    const hook = 'blocks.1.hook_mlp_out';
    // The same windows as the job: the SAE run's corpus, validation split, 128 windows of the LM's context.
    const lm = loadLmModel(path.join(bundledModelsDir(), 'ascii-64x4-brown'));
    const set = loadSaeSet(runArtifactsDir(tmp, sae.id), saeConfig, lm.config);
    const corpus = loadCorpus(saeConfig.corpus);
    const T = lm.config.contextLength;
    const splits = prepareSplits(asciiTokenizer.encode(corpus.text), T, {
      trainFraction: saeConfig.trainFraction,
    });
    const [w] = evalBatches(splits.val, 1, 128, T);
    const view = set.view(hook);
    const F = view.width;
    const count = new Float64Array(F);
    const max = new Float64Array(F);
    const argmax = new Int32Array(F).fill(-1);
    const dense = new Float32Array(128 * T * F);
    for (let s0 = 0; s0 < 128; s0 += 32) {
      const batch = {
        inputs: w.inputs.subarray(s0 * T, (s0 + 32) * T),
        targets: w.targets.subarray(s0 * T, (s0 + 32) * T),
        starts: w.starts.subarray(s0, s0 + 32),
        batchSize: 32,
        contextLength: T,
      };
      const acts = lmActivations(lm, batch, [hook]);
      const codes = encode(acts[hook], set.weights(view), view.k);
      const idx = codes.idx.dataSync();
      const val = codes.val.dataSync();
      for (let t = 0; t < 32 * T; t++)
        for (let s = 0; s < view.k; s++) {
          const v = val[t * view.k + s];
          if (!(v > 0)) continue;
          const f = idx[t * view.k + s];
          const token = s0 * T + t;
          count[f]++;
          dense[token * F + f] = v;
          if (v > max[f]) {
            max[f] = v;
            argmax[f] = token;
          }
        }
      tf.dispose([acts[hook], codes.idx, codes.val]);
    }
    const rows = [];
    for (let offset = 0; offset < F; offset += 500)
      rows.push(...(await service.call('latents.list', { run: sae.id, hook, offset, limit: 500 })).rows);
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: F }, (_, f) => f));
    for (const r of rows) {
      expect(r.freq).toBeCloseTo(count[r.id] / (128 * T), 12);
      expect(r.maxAct).toBeCloseTo(max[r.id], 5);
      expect(r.dead).toBe(count[r.id] === 0);
    }
    // The strongest context of the three most active latents: position, tokens and activations of the window.
    const alive = rows
      .filter((r) => !r.dead)
      .sort((a, b) => b.freq - a.freq)
      .slice(0, 3);
    expect(alive.length).toBe(3);
    for (const r of alive) {
      const page = await service.call('latents.get', { run: sae.id, hook, id: r.id });
      const top = page.topContexts[0];
      expect(top.seq * T + top.pos).toBe(argmax[r.id]);
      const start = top.pos - top.center;
      expect(top.ids).toEqual(
        Array.from(w.inputs.subarray(top.seq * T + start, top.seq * T + start + top.ids.length)),
      );
      expect(top.tokens.join('')).toBe(asciiTokenizer.decode(top.ids));
      top.acts.forEach((a, x) => expect(a).toBeCloseTo(dense[(top.seq * T + start + x) * F + r.id], 5));
      expect(page.topContexts.length).toBe(Math.min(20, count[r.id]));
      expect(page.histogram.counts.reduce((a, b) => a + b, 0)).toBe(count[r.id]);
    }
    set.dispose();
    lm.dispose();
  });

  it('has the JSAE Jacobian entries and logit effects only where the hook is in the residual stream', async () => {
    const hooks = await service.call('latents.hooks', { run: sae.id });
    expect(hooks.jacobianPairs.map((p) => p.pair)).toEqual([
      'fflayer:0',
      'fflayer:1',
      'fflayer:2',
      'fflayer:3',
    ]);
    const map = await service.call('graph.jacobian', { run: sae.id, pair: 'fflayer:2', n: 50 });
    expect(map.entries.length).toBe(50);
    expect(map.entries.map((e) => e.rank)).toEqual(Array.from({ length: 50 }, (_, r) => r));
    for (let x = 1; x < 50; x++)
      expect(map.entries[x].meanAbs).toBeLessThanOrEqual(map.entries[x - 1].meanAbs);
    const upHook = 'blocks.2.ln2.hook_normalized';
    const row = await service.call('latents.get', { run: sae.id, hook: upHook, id: map.entries[0].i });
    expect(row.jacobian).toHaveLength(1);
    expect(row.jacobian[0]).toMatchObject({
      pair: 'fflayer:2',
      direction: 'down',
      partnerHook: 'blocks.2.hook_mlp_out',
    });
    expect(row.jacobian[0].entries[0]).toMatchObject({ latent: map.entries[0].j, rank: 0 });
    expect(row.logits.available).toBe(false);
    expect(row.logits.top).toEqual([]);
    const ln2 = hooks.hooks.find((h) => h.hook === upHook)!;
    expect(ln2.logitEffects).toBe(false);
    const out = await service.call('latents.get', {
      run: sae.id,
      hook: 'blocks.2.hook_mlp_out',
      id: map.entries[0].j,
    });
    expect(out.logits.available).toBe(true);
    expect(out.logits.top.length).toBe(10);
    expect(out.logits.bottom.length).toBe(10);
    expect(out.jacobian[0]).toMatchObject({ direction: 'up', partnerHook: upHook });
  });

  it('runs on demand, can be cancelled mid-way and resumed (it restarts from scratch)', async () => {
    const again = await service.call('latents.compute', { run: sae.id });
    expect(again).toEqual({ id: stats.id, status: 'completed', created: false });
    const started = await service.call('latents.compute', {
      run: sae.id,
      force: true,
      config: { seqs: 48, batchSize: 2 },
    });
    expect(started.created).toBe(true);
    // Cancel once it has done some work.
    for (;;) {
      const r = service.store.requireRun(started.id);
      if (r.status === 'running' && (r.progress as { step?: number } | null)?.step) break;
      if (!['queued', 'running'].includes(r.status))
        throw new Error(`ended ${r.status} before it could be cancelled`);
      await new Promise((res) => setTimeout(res, 50));
    }
    await service.call('jobs.cancel', { id: started.id });
    expect((await settled(started.id)).status).toBe('cancelled');
    // While the new one is not complete, the earlier statistics are still served.
    expect((await service.call('latents.hooks', { run: sae.id })).hooks[0].tokens).toBe(128 * 128);
    await service.call('jobs.resume', { id: started.id });
    const done = await settled(started.id);
    expect(done.status, done.error ?? '').toBe('completed');
    const h = await service.call('latents.hooks', { run: sae.id });
    expect(h.statsRun?.id).toBe(started.id);
    expect(h.hooks.map((x) => x.tokens)).toEqual(new Array(8).fill(48 * 128));
    const list = await service.call('latents.list', { run: sae.id, hook: h.hooks[0].hook, limit: 1 });
    expect(list.total).toBe(512);
  }, 120_000);
});
