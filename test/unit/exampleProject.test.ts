/**
 * The example project through the Api (no training): a small reproduction made here and exported as the
 * example is (weights for seed 0 only, no exports), then offered (`example.info`), imported (`example.import`,
 * the bundle import: a tampered bundle is refused and the store left empty), imported again (all skipped), and
 * the runs without weights answer every request that needs them with "imported without its weights".
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { strToU8, unzipSync, zipSync, type Zippable } from 'fflate';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ScalarService } from '../../src-main/api/service.ts';
import { exportBundle } from '../../src-main/store/bundle.ts';
import { Store } from '../../src-main/store/index.ts';
import {
  exampleHeadline,
  exampleWeightsNote,
  importOutcome,
  kindCounts,
} from '../../src-renderer/views/example/exampleText.ts';
import { FakeClock, makeTempDir, removeDir } from './store.helpers.ts';

const LM = 'resources:ascii-64x4-brown';
const HOOKS = ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_pre'];

let tmp: string;
let clock: FakeClock;
const services: ScalarService[] = [];

function service(name: string, exampleBundle: string): ScalarService {
  const s = new ScalarService({ dataDir: path.join(tmp, name), mode: 'cli', exampleBundle });
  services.push(s);
  return s;
}

async function put(store: Store, runId: string, name: string, bytes: number, kind?: string) {
  const abs = store.artifactPath(runId, name);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  fs.writeFileSync(abs, randomBytes(bytes));
  if (kind) await store.registerArtifact({ runId, kind, name });
}

/** A 2-seed reproduction of tblock TopK vs Staircase: 4 SAE runs, 4 SCALAR runs and the reproduce run. */
async function makeReproduction(store: Store) {
  const repro = store.createRun({
    kind: 'reproduce',
    name: 'quick reproduction',
    config: { preset: 'quick', lm: LM, seeds: 2, seed: 0, setups: ['tblock'], variants: false },
  });
  store.startRun(repro.id);
  const children: Record<string, string> = {};
  for (const seed of [0, 1]) {
    for (const arch of ['topk', 'staircase']) {
      const sae = store.createRun({
        kind: 'sae',
        parentId: repro.id,
        seed,
        config: { kind: 'train-sae', config: { lm: LM, arch, setup: 'tblock', width: 64, k: 4, seed } },
      });
      store.startRun(sae.id);
      await put(store, sae.id, 'best/tblock.safetensors', 3000);
      await put(store, sae.id, `saes/${HOOKS[0]}/sae_weights.safetensors`, 1500, 'sae');
      await put(store, sae.id, 'state.safetensors', 5000, 'checkpoint');
      store.recordMetrics(sae.id, 10, HOOKS[0], { l0: 4, explained_variance: 0.8 });
      clock.advance(3);
      store.finishRun(sae.id, { saes: HOOKS.map((hook) => ({ hook })) });
      const scalar = store.createRun({
        kind: 'scalar',
        parentId: repro.id,
        seed,
        config: { kind: 'scalar', config: { sae: sae.id } },
      });
      store.startRun(scalar.id);
      await put(store, scalar.id, 'pair0/kl.safetensors', 800, 'scalar');
      await put(store, scalar.id, 'pair0/edge_scores.safetensors', 2000, 'scalar');
      store.recordEdges(scalar.id, 'tblock:0', { i: [1, 2], j: [3, 4], score: [0.5, 0.25] });
      clock.advance(3);
      store.finishRun(scalar.id, {
        eval_result_metrics: { pairs: [{ pair: 0, label: 'tblock:0', f0: 64, f1: 64 }] },
      });
      children[`sae:tblock:${arch}:${seed}`] = sae.id;
      children[`scalar:tblock:${arch}:${seed}`] = scalar.id;
    }
  }
  store.setProgress(repro.id, { step: 8, total: 8, children });
  store.finishRun(repro.id, { reproduction: { claims: [] } });
  return { repro: repro.id, children };
}

async function makeExample(): Promise<{ zip: string; ids: Awaited<ReturnType<typeof makeReproduction>> }> {
  const src = Store.open(path.join(tmp, 'src'), { now: clock.now });
  try {
    const ids = await makeReproduction(src);
    const zip = path.join(tmp, 'example.zip');
    const c = ids.children;
    await exportBundle(src, [ids.repro], zip, {
      withDeps: true,
      weights: [c['sae:tblock:topk:0'], c['scalar:tblock:topk:0'], c['sae:tblock:staircase:0']],
      withoutExports: true,
    });
    return { zip, ids };
  } finally {
    src.close();
  }
}

beforeEach(() => {
  tmp = makeTempDir('scalar-example-');
  clock = new FakeClock();
});
afterEach(async () => {
  for (const s of services.splice(0)) await s.close();
  removeDir(tmp);
});

describe('the example project', () => {
  it('is described from its manifest, imported with the bundle import, and skipped the second time', async () => {
    const { zip, ids } = await makeExample();
    const api = service('data', zip);
    const info = await api.call('example.info', {});
    expect(info).toEqual({
      available: true,
      bytes: fs.statSync(zip).size,
      runs: 9,
      kinds: { reproduce: 1, sae: 4, scalar: 4 },
      seeds: [0, 1],
      preset: 'quick',
      reproduceRunId: ids.repro,
      lm: LM,
      withWeights: 3,
      withoutWeights: 5,
      present: 0,
      createdAt: expect.any(String),
    });
    expect(kindCounts(info.kinds)).toBe('4 SAE runs, 4 SCALAR runs, 1 reproduction');
    expect(exampleHeadline(info)).toMatch(
      /^The paper's quick reproduction over 2 seeds: 9 completed runs \(4 SAE runs, 4 SCALAR runs, 1 reproduction\) on the bundled model ascii-64x4-brown, [\d.]+ kB\.$/,
    );
    expect(exampleWeightsNote(info)).toBe(
      '3 runs carry their weights, so latent statistics, latent matching and paired comparisons can be computed on them; 5 are records only (metrics, curves, kept edges, scores), marked “no weights”.',
    );

    const first = await api.call('example.import', {});
    expect(first.imported).toHaveLength(9);
    expect(first.imported[0]).toBe(ids.repro); // parents first
    expect(first).toMatchObject({ skipped: [], reproduceRunId: ids.repro });
    expect(importOutcome(first)).toBe('Imported the example project: 9 runs.');

    const table = await api.call('runs.query', { limit: 50 });
    expect(table.total).toBe(9);
    const without = table.rows.filter((r) => r.withoutWeights).map((r) => r.id);
    expect(without.sort()).toEqual(
      [
        ids.children['scalar:tblock:staircase:0'],
        ids.children['sae:tblock:topk:1'],
        ids.children['scalar:tblock:topk:1'],
        ids.children['sae:tblock:staircase:1'],
        ids.children['scalar:tblock:staircase:1'],
      ].sort(),
    );
    const report = await api.call('runs.get', { id: ids.repro });
    expect(report.summary).toEqual({ reproduction: { claims: [] } });
    expect(report.children).toHaveLength(8);
    const sae0 = await api.call('runs.get', { id: ids.children['sae:tblock:topk:0'] });
    expect(sae0.withoutWeights).toBe(false);
    expect(sae0.filesLeftOut!.map((f) => [f.path, f.role])).toEqual([
      [`saes/${HOOKS[0]}/sae_weights.safetensors`, 'exports'],
      ['state.safetensors', 'resume'],
    ]);

    const second = await api.call('example.import', {});
    expect(second.imported).toEqual([]);
    expect(second.skipped).toHaveLength(9);
    expect(second.skipped.every((s) => s.reason === 'already present')).toBe(true);
    expect(importOutcome(second)).toBe(
      'The example project is already here: all 9 of its runs are in this data dir, nothing was imported.',
    );
    expect((await api.call('example.info', {})).present).toBe(9);
  });

  it('runs without weights say so wherever their weights are needed', async () => {
    const { zip, ids } = await makeExample();
    const api = service('data', zip);
    await api.call('example.import', {});
    const sae1 = ids.children['sae:tblock:topk:1'];
    const said = (id: string) => new RegExp(`run ${id} was imported without its weights( \\(.*\\))?, so `);

    await expect(api.call('latents.compute', { run: sae1 })).rejects.toThrow(said(sae1));
    const hooks = await api.call('latents.hooks', { run: sae1 });
    expect(hooks.withoutWeights).toMatch(/its latent statistics cannot be computed here/);
    expect((await api.call('latents.hooks', { run: ids.children['sae:tblock:topk:0'] })).withoutWeights).toBe(
      null,
    );
    await expect(
      api.call('latents.matches', { runA: ids.children['sae:tblock:topk:0'], runB: sae1, hook: HOOKS[0] }),
    ).rejects.toThrow(said(sae1));
    await expect(api.call('jobs.start', { spec: { kind: 'scalar', config: { sae: sae1 } } })).rejects.toThrow(
      said(sae1),
    );
    const scalar1 = ids.children['scalar:tblock:staircase:1'];
    await expect(
      api.call('compare.scalar', { run: scalar1, baseline: ids.children['scalar:tblock:topk:0'] }),
    ).rejects.toThrow(said(scalar1));
    // The records are all there: kept edges of a run without weights.
    expect(api.store.getEdges(scalar1, 'tblock:0')).toHaveLength(2);
  });

  it('a tampered example is refused by the bundle checks and leaves the data dir empty', async () => {
    const { zip, ids } = await makeExample();
    const entries = unzipSync(fs.readFileSync(zip));
    const p = `runs/${ids.repro}/tables/runs.json`;
    entries[p] = strToU8(
      Buffer.from(entries[p]).toString().replace('quick reproduction', 'quick reproductioN'),
    );
    const bad = path.join(tmp, 'bad.zip');
    fs.writeFileSync(bad, zipSync(entries as Zippable));
    const api = service('data', bad);
    await expect(api.call('example.import', {})).rejects.toThrow(/does not match its manifest/);
    expect((await api.call('runs.query', {})).total).toBe(0);
  });

  it('says when the installation ships none', async () => {
    const api = service('data', path.join(tmp, 'nowhere.zip'));
    expect(await api.call('example.info', {})).toMatchObject({ available: false, runs: 0 });
    await expect(api.call('example.import', {})).rejects.toThrow(/ships no example project/);
  });
});
