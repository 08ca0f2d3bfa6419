/**
 * The latent and graph Api over a real store with hand-made runs (no training): edges per latent paged in both
 * directions (equal to a sort of the stored edges done here), the top-N edge ranges of a pair with node info,
 * the curve, the latent list (sort, filter, label search, ids, paging), labels shown wherever a latent appears,
 * the latent page, the feature-density histogram, matching two SAE runs from their checkpoint files (stored,
 * both orientations), clear errors, and when a completed SAE run queues its statistics automatically.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { autoLatentStats, type LatentServiceDeps } from '../../src-main/api/latents.ts';
import { ScalarService } from '../../src-main/api/service.ts';
import { writeSafetensorsFile } from '../../src-main/engine/io/safetensors.ts';
import type { JobManager } from '../../src-main/jobs/manager.ts';
import { recordLatentRows, runArtifactsDir, type RunRecord, type Store } from '../../src-main/store/index.ts';
import type { JobSpec } from '../../src-shared/jobs.ts';
import type { LatentSummaryRow } from '../../src-shared/latents.ts';
import { TestRng } from './lm.helpers.ts';
import { makeTempDir, removeDir } from './store.helpers.ts';

const H0 = 'blocks.0.hook_resid_pre';
const H1 = 'blocks.0.hook_resid_post';
const F = 6;
const D = 4;

function completed(store: Store, input: Parameters<Store['createRun']>[0], summary: unknown): RunRecord {
  const run = store.createRun(input);
  store.startRun(run.id);
  return store.finishRun(run.id, summary);
}

function saeRun(store: Store, name: string, parentId: string | null = null): RunRecord {
  return completed(
    store,
    {
      kind: 'sae',
      name,
      parentId,
      config: {
        kind: 'train-sae',
        config: {
          arch: 'topk',
          setup: 'tblock',
          width: F,
          k: 2,
          lm: 'resources:ascii-64x4-brown',
          corpus: 'builtin:brown',
          trainFraction: 0.8,
        },
      },
    },
    { saes: [{ hook: H0 }, { hook: H1 }] },
  );
}

/** Frequencies of the 6 latents of each hook (latent 4 dead, latent 5 dense). */
const FREQ = [0.1, 0.01, 0.001, 0.02, 0, 0.5];
const TOKENS = 1000;

function summaryRows(shift: number): LatentSummaryRow[] {
  return FREQ.map((freq, latent) => ({
    latent,
    count: Math.round(freq * TOKENS),
    freq,
    meanAct: freq > 0 ? 1 + latent + shift : null,
    maxAct: freq > 0 ? 2 + 2 * latent + shift : 0,
    dead: freq === 0,
    dense: freq > 0.1,
    chunk: null,
    topTokens: freq > 0 ? [String.fromCharCode(97 + latent)] : [],
    histFirst: 16,
    hist: freq > 0 ? [latent + 1, 0, 2] : [],
  }));
}

function latentsRun(store: Store, sae: RunRecord): RunRecord {
  const run = store.createRun({ kind: 'latents', parentId: sae.id, config: {} });
  store.startRun(run.id);
  // Evaluation windows: 10 × 8 tokens; sequence 7 has 'hi!' at 3–5, sequence 2 starts with 'AB'.
  const ids = new Int32Array(80).fill(32);
  ids.set([104, 105, 33], 7 * 8 + 3);
  ids.set([65, 66], 2 * 8);
  recordLatentRows(store.db, run.id, {
    reset: true,
    windows: { seqs: 10, seqLen: 8, tokenizer: 'ascii', ids },
  });
  for (const [h, hook] of [H0, H1].entries()) {
    recordLatentRows(store.db, run.id, {
      hooks: [
        {
          hook,
          width: F,
          chunk: null,
          position: 0,
          k: 2,
          tokens: TOKENS,
          dead: 1,
          dense: 1,
          tokenizer: 'ascii',
          logitEffects: true,
          logitNote: 'direct',
          histMinLog10: -3,
          histMaxLog10: 3,
          histBinsPerDecade: 5,
          meta: {},
        },
      ],
      summaries: { hook, rows: summaryRows(h) },
      contexts: {
        hook,
        rows: [
          {
            latent: 1,
            contexts: [
              {
                kind: 'top',
                index: 0,
                bucket: null,
                bucketLo: null,
                bucketHi: null,
                act: 3.5,
                seq: 7,
                pos: 5,
                start: 3,
                len: 3,
                acts: Float32Array.from([0, 0.25, 3.5]),
              },
              {
                kind: 'quantile',
                index: 0,
                bucket: 1,
                bucketLo: 0.5,
                bucketHi: 1.5,
                act: 1,
                seq: 2,
                pos: 0,
                start: 0,
                len: 2,
                acts: Float32Array.from([1, 0]),
              },
            ],
          },
        ],
      },
      logits: {
        hook,
        rows: [
          {
            latent: 1,
            topIds: Int32Array.from([97, 98]),
            topValues: Float32Array.from([0.75, 0.5]),
            bottomIds: Int32Array.from([122]),
            bottomValues: Float32Array.from([-0.5]),
          },
        ],
      },
    });
  }
  return store.finishRun(run.id, {});
}

describe('latent and graph Api', () => {
  let tmp: string;
  let service: ScalarService;
  let store: Store;
  let sae: RunRecord;
  let scalar: RunRecord;
  /** Every edge of the pair as stored: (rank, i, j, score), ranks by score. */
  let edges: { rank: number; i: number; j: number; score: number }[];

  beforeEach(() => {
    tmp = makeTempDir('scalar-latent-api-');
    service = new ScalarService({ dataDir: tmp, mode: 'cli' });
    store = service.store;
    sae = saeRun(store, 'topk a');
    latentsRun(store, sae);
    scalar = completed(
      store,
      {
        kind: 'scalar',
        name: 'eval a',
        parentId: sae.id,
        config: { kind: 'scalar', config: { sae: sae.id } },
      },
      { eval_result_metrics: { pairs: [{ label: 'tblock:0', up: H0, down: H1, f0: F, f1: F }] } },
    );
    // 30 of the 36 edges stored (the top ones), scores distinct and descending with rank.
    const rng = new TestRng(3);
    const all = [];
    for (let i = 0; i < F; i++) for (let j = 0; j < F; j++) all.push({ i, j, score: rng.uniform() });
    all.sort((a, b) => b.score - a.score);
    edges = all.slice(0, 30).map((e, rank) => ({ rank, ...e }));
    store.recordEdges(scalar.id, 'tblock:0', {
      i: edges.map((e) => e.i),
      j: edges.map((e) => e.j),
      score: edges.map((e) => e.score),
    });
    store.recordScalarCurve(scalar.id, 'tblock:0', 'model', [
      { n: 1, mean: 2, lo: 1.5, hi: 2.5 },
      { n: 4, mean: 1, lo: 0.5, hi: 1.5 },
    ]);
  });
  afterEach(async () => {
    await service.close();
    removeDir(tmp);
  });

  it('latents.edges: pages of a latent’s partners in both directions equal a sort of the stored edges', async () => {
    for (const direction of ['up', 'down'] as const)
      for (let latent = 0; latent < F; latent++) {
        const expected = edges
          .filter((e) => (direction === 'up' ? e.j : e.i) === latent)
          .sort((a, b) => b.score - a.score)
          .map((e) => ({ latent: direction === 'up' ? e.i : e.j, score: e.score, rank: e.rank }));
        const got = [];
        for (let offset = 0; ; offset += 2) {
          const page = await service.call('latents.edges', {
            run: scalar.id,
            pair: 'tblock:0',
            latent,
            direction,
            offset,
            limit: 2,
          });
          expect(page.total).toBe(expected.length);
          expect(page.partnerHook).toBe(direction === 'up' ? H0 : H1);
          expect(page.partnerRun).toBe(sae.id);
          expect(page.storedEdges).toBe(30);
          expect(page.fullEdges).toBe(36);
          page.rows.forEach((r, x) => expect(r.localRank).toBe(offset + x));
          got.push(...page.rows);
          if (page.rows.length < 2) break;
        }
        expect(got.map(({ latent: l, score, rank }) => ({ latent: l, score, rank }))).toEqual(expected);
        // Partner frequencies from the latents run of the partner hook.
        for (const r of got) expect(r.freq).toBe(FREQ[r.latent]);
      }
  });

  it('graph.edges: ranks [offset, offset + n) as columns, with node info for the latents in them', async () => {
    const g = await service.call('graph.edges', { run: scalar.id, pair: 'tblock:0', n: 10, offset: 5 });
    const slice = edges.slice(5, 15);
    expect(g.edges).toEqual({
      i: slice.map((e) => e.i),
      j: slice.map((e) => e.j),
      score: slice.map((e) => e.score),
    });
    expect(g.offset).toBe(5);
    expect([g.storedEdges, g.fullEdges]).toEqual([30, 36]);
    expect(g.up.hook).toBe(H0);
    expect(g.down.hook).toBe(H1);
    expect(g.up.width).toBe(F);
    expect(g.up.nodes.map((n) => n.id)).toEqual([...new Set(slice.map((e) => e.i))].sort((a, b) => a - b));
    expect(g.down.nodes.map((n) => n.id)).toEqual([...new Set(slice.map((e) => e.j))].sort((a, b) => a - b));
    for (const n of [...g.up.nodes, ...g.down.nodes]) {
      expect(n.freq).toBe(FREQ[n.id]);
      expect(n.label).toBeNull();
    }
    // Past the stored edges: fewer (or no) rows, never an error.
    const tail = await service.call('graph.edges', {
      run: scalar.id,
      pair: 'tblock:0',
      n: 100,
      nodes: false,
    });
    expect(tail.edges.i.length).toBe(30);
    expect(tail.up.nodes).toEqual([]);
    const curve = await service.call('graph.curve', { run: scalar.id, pair: 'tblock:0' });
    expect(curve.points).toEqual([
      { n: 1, mean: 2, lo: 1.5, hi: 2.5 },
      { n: 4, mean: 1, lo: 0.5, hi: 1.5 },
    ]);
    expect([curve.target, curve.up, curve.down, curve.storedEdges]).toEqual(['model', H0, H1, 30]);
  });

  it('latents.list: sorted, filtered, searched by label, by ids, paged', async () => {
    const byFreq = await service.call('latents.list', {
      run: sae.id,
      hook: H0,
      sort: 'freq',
      desc: true,
      limit: 3,
    });
    expect(byFreq.total).toBe(F);
    expect(byFreq.rows.map((r) => r.id)).toEqual([5, 0, 3]);
    const next = await service.call('latents.list', {
      run: sae.id,
      hook: H0,
      sort: 'freq',
      desc: true,
      offset: 3,
    });
    expect(next.rows.map((r) => r.id)).toEqual([1, 2, 4]);
    expect(
      (await service.call('latents.list', { run: sae.id, hook: H0, filter: 'dead' })).rows.map((r) => r.id),
    ).toEqual([4]);
    expect(
      (await service.call('latents.list', { run: sae.id, hook: H0, filter: 'dense' })).rows.map((r) => r.id),
    ).toEqual([5]);
    // Mean activation ascending puts the dead latent (no mean) last.
    const byMean = await service.call('latents.list', { run: sae.id, hook: H1, sort: 'mean' });
    expect(byMean.rows.map((r) => r.id)).toEqual([0, 1, 2, 3, 5, 4]);
    expect(byMean.rows[0]).toEqual({
      id: 0,
      freq: 0.1,
      meanAct: 2,
      maxAct: 3,
      dead: false,
      dense: false,
      chunk: null,
      topTokens: ['a'],
      label: null,
    });
    await service.call('latents.label', {
      run: sae.id,
      hook: H0,
      id: 2,
      text: 'Quote marks',
      note: 'opening "',
    });
    await service.call('latents.label', { run: sae.id, hook: H0, id: 3, text: 'digits 100%' });
    const search = await service.call('latents.list', { run: sae.id, hook: H0, search: 'quote' });
    expect(search.rows.map((r) => [r.id, r.label])).toEqual([[2, 'Quote marks']]);
    // The note is searched too.
    expect(
      (await service.call('latents.list', { run: sae.id, hook: H0, search: 'OPENING' })).rows.map(
        (r) => r.id,
      ),
    ).toEqual([2]);
    // LIKE wildcards in the search are literal.
    expect(
      (await service.call('latents.list', { run: sae.id, hook: H0, search: '0%' })).rows.map((r) => r.id),
    ).toEqual([3]);
    expect((await service.call('latents.list', { run: sae.id, hook: H0, search: '_' })).total).toBe(0);
    expect(
      (await service.call('latents.list', { run: sae.id, hook: H0, filter: 'labelled' })).rows.map(
        (r) => r.id,
      ),
    ).toEqual([2, 3]);
    expect(
      (await service.call('latents.list', { run: sae.id, hook: H0, ids: [5, 1, 9] })).rows.map((r) => r.id),
    ).toEqual([1, 5]);
  });

  it('a label is stored on the SAE run and shows wherever the latent appears; empty text and note remove it', async () => {
    const label = await service.call('latents.label', { run: sae.id, hook: H1, id: 3, text: 'end of word' });
    expect(label).toMatchObject({ text: 'end of word', note: '' });
    const list = await service.call('latents.list', { run: sae.id, hook: H1, ids: [3] });
    expect(list.rows[0].label).toBe('end of word');
    const g = await service.call('graph.edges', { run: scalar.id, pair: 'tblock:0', n: 30 });
    expect(g.down.nodes.find((n) => n.id === 3)?.label).toBe('end of word');
    const e = await service.call('latents.edges', {
      run: scalar.id,
      pair: 'tblock:0',
      latent: 0,
      direction: 'down',
      limit: 50,
    });
    for (const r of e.rows) expect(r.label).toBe(r.latent === 3 ? 'end of word' : null);
    expect((await service.call('latents.get', { run: sae.id, hook: H1, id: 3 })).label?.text).toBe(
      'end of word',
    );
    // A note alone keeps the label; text and note both empty remove it.
    await service.call('latents.label', {
      run: sae.id,
      hook: H1,
      id: 3,
      text: 'end of word',
      note: 'suffixes',
    });
    expect((await service.call('latents.get', { run: sae.id, hook: H1, id: 3 })).label?.note).toBe(
      'suffixes',
    );
    expect(
      await service.call('latents.label', { run: sae.id, hook: H1, id: 3, text: '', note: '' }),
    ).toBeNull();
    expect(
      (await service.call('latents.list', { run: sae.id, hook: H1, ids: [3] })).rows[0].label,
    ).toBeNull();
    await expect(service.call('latents.label', { run: sae.id, hook: H1, id: F, text: 'x' })).rejects.toThrow(
      /no latent 6/,
    );
    await expect(
      service.call('latents.label', { run: sae.id, hook: 'blocks.3.hook_resid_pre', id: 0, text: 'x' }),
    ).rejects.toThrow(/no SAE at blocks.3.hook_resid_pre/);
  });

  it('latents.get: the whole latent page', async () => {
    const p = await service.call('latents.get', { run: sae.id, hook: H0, id: 1 });
    expect(p.stats).toMatchObject({
      count: 10,
      tokens: TOKENS,
      freq: 0.01,
      meanAct: 2,
      maxAct: 4,
      dead: false,
    });
    // 30 inner log-spaced edges from 1e-3 to 1e3 and 32 counts (under, 30 inner, over); bins 16–18 stored.
    expect(p.histogram.edges.length).toBe(31);
    expect(p.histogram.edges[15]).toBeCloseTo(1, 12);
    expect(p.histogram.counts.length).toBe(32);
    expect(p.histogram.counts.map((c, b) => [b, c]).filter(([, c]) => c > 0)).toEqual([
      [16, 2],
      [18, 2],
    ]);
    expect(p.topContexts).toEqual([
      {
        seq: 7,
        pos: 5,
        act: 3.5,
        center: 2,
        tokens: ['h', 'i', '!'],
        ids: [104, 105, 33],
        acts: [0, 0.25, 3.5],
      },
    ]);
    expect(p.quantiles).toEqual([
      {
        bucket: 1,
        lo: 0.5,
        hi: 1.5,
        contexts: [{ seq: 2, pos: 0, act: 1, center: 0, tokens: ['A', 'B'], ids: [65, 66], acts: [1, 0] }],
      },
    ]);
    expect(p.logits).toEqual({
      available: true,
      note: 'direct',
      top: [
        { id: 97, token: 'a', value: 0.75 },
        { id: 98, token: 'b', value: 0.5 },
      ],
      bottom: [{ id: 122, token: 'z', value: -0.5 }],
    });
    expect(p.scalarRuns).toEqual([
      { id: scalar.id, name: 'eval a', pairs: [{ pair: 'tblock:0', direction: 'down', partnerHook: H1 }] },
    ]);
    expect(p.jacobian).toEqual([]);
    await expect(service.call('latents.get', { run: sae.id, hook: H0, id: F })).rejects.toThrow(
      /no latent 6/,
    );
  });

  it('latents.hooks: per-hook counts and the feature-density histogram (log10 frequency, dead apart)', async () => {
    const h = await service.call('latents.hooks', { run: sae.id });
    expect(h.hooks.map((x) => x.hook)).toEqual([H0, H1]);
    expect(h.statsRun?.status).toBe('completed');
    const d = h.hooks[0].density;
    // log10 of 0.1, 0.01, 0.001, 0.02, 0.5 = −1, −2, −3, −1.70, −0.30 → fifth-of-a-decade bins from −3 to −0.2.
    expect(d.edges[0]).toBeCloseTo(-3, 12);
    expect(d.edges[d.edges.length - 1]).toBeCloseTo(-0.2, 12);
    expect(d.counts.reduce((a, b) => a + b, 0)).toBe(5);
    const binOf = (x: number) => Math.floor((x + 3) * 5 + 1e-9);
    const expected = new Array(d.counts.length).fill(0);
    for (const f of [0.1, 0.01, 0.001, 0.02, 0.5]) expected[binOf(Math.log10(f))]++;
    expect(d.counts).toEqual(expected);
  });

  it('latents.matches: computed from the checkpoints once, stored, readable from either run', async () => {
    const b = saeRun(store, 'topk b');
    const rng = new TestRng(8);
    const perm = [3, 0, 5, 1, 4, 2]; // latent i of A is latent perm[i] of B
    const decA: Record<string, Float32Array> = {};
    for (const [x, hook] of [H0, H1].entries()) {
      const a = rng.normals(F * D);
      const bd = new Float32Array(F * D);
      for (let i = 0; i < F; i++)
        for (let d = 0; d < D; d++) bd[perm[i] * D + d] = a[i * D + d] * (2 + x) + 0.01 * rng.normal();
      decA[hook] = a;
      for (const [run, dec] of [
        [sae, a],
        [b, bd],
      ] as const) {
        const dir = path.join(runArtifactsDir(store.dataDir, run.id), 'best');
        fs.mkdirSync(dir, { recursive: true });
        writeSafetensorsFile(path.join(dir, `${hook}.safetensors`), {
          [`${hook}.W_dec`]: { dtype: 'F32', shape: [F, D], data: dec },
        });
      }
    }
    const m = await service.call('latents.matches', { runA: sae.id, runB: b.id, hook: H1 });
    expect([m.method, m.widthA, m.widthB, m.matched, m.total]).toEqual(['hungarian', F, F, F, F]);
    expect(m.rows.map((r) => [r.a, r.b])).toEqual(perm.map((p, i) => [i, p]));
    for (const r of m.rows) expect(r.cos).toBeGreaterThan(0.99);
    // Stored: answered again with the checkpoint files gone, and from B's side as the inverse.
    fs.rmSync(path.join(runArtifactsDir(store.dataDir, sae.id), 'best'), { recursive: true });
    const again = await service.call('latents.matches', {
      runA: sae.id,
      runB: b.id,
      hook: H1,
      sort: 'cos',
      desc: true,
    });
    expect(again.rows.map((r) => r.cos)).toEqual([...m.rows.map((r) => r.cos)].sort((x, y) => y - x));
    const back = await service.call('latents.matches', { runA: b.id, runB: sae.id, hook: H1 });
    expect(back.rows.map((r) => [r.a, r.b])).toEqual(perm.map((p, i) => [p, i]).sort((x, y) => x[0] - y[0]));
    expect(back.widthA).toBe(F);
    const one = await service.call('latents.matches', {
      runA: b.id,
      runB: sae.id,
      hook: H1,
      latent: perm[4],
    });
    expect(one.rows.map((r) => [r.a, r.b])).toEqual([[perm[4], 4]]);
    // Shown on both latent pages.
    const pageA = await service.call('latents.get', { run: sae.id, hook: H1, id: 2 });
    expect(pageA.matches.map((x) => [x.run, x.latent])).toEqual([[b.id, perm[2]]]);
    await expect(service.call('latents.matches', { runA: sae.id, runB: b.id, hook: H0 })).rejects.toThrow(
      /no such file|ENOENT/,
    );
  });

  it('says what to do when an SAE run has no statistics yet', async () => {
    const other = saeRun(store, 'fresh');
    await expect(service.call('latents.list', { run: other.id, hook: H0 })).rejects.toThrow(
      /latents\.compute/,
    );
    const h = await service.call('latents.hooks', { run: other.id });
    expect(h).toMatchObject({ statsRun: null, hooks: [] });
    await expect(
      service.call('latents.edges', { run: sae.id, pair: 'tblock:0', latent: 0, direction: 'up' }),
    ).rejects.toThrow(/not a SCALAR run/);
  });
});

describe('autoLatentStats', () => {
  let tmp: string;
  let service: ScalarService;
  let store: Store;
  let submitted: JobSpec[];
  let deps: LatentServiceDeps;

  beforeEach(() => {
    tmp = makeTempDir('scalar-latent-auto-');
    service = new ScalarService({ dataDir: tmp, mode: 'cli', autoLatentStats: false });
    store = service.store;
    submitted = [];
    const jobs = {
      events: new EventEmitter(),
      submit: (spec: JobSpec, meta: { name?: string }) => {
        submitted.push(spec);
        const config = (spec as Extract<JobSpec, { kind: 'latent-stats' }>).config;
        return store.createRun({ kind: 'latents', name: meta.name, parentId: config.sae, config: spec });
      },
    };
    deps = { store, jobs: jobs as unknown as JobManager };
  });
  afterEach(async () => {
    await service.close();
    removeDir(tmp);
  });

  it('queues the stats of a completed SAE run where the queue is owned, or for a pipeline step; once', () => {
    const done = (id: string) => ({ type: 'status' as const, runId: id, status: 'completed' as const });
    const a = saeRun(store, 'a');
    autoLatentStats(deps, done(a.id), false); // a plain CLI train-sae: nothing
    expect(submitted).toEqual([]);
    autoLatentStats(deps, done(a.id), true);
    expect(submitted).toHaveLength(1);
    expect(submitted[0]).toMatchObject({
      kind: 'latent-stats',
      config: { sae: a.id, corpus: 'builtin:brown', trainFraction: 0.8, topContexts: 20 },
    });
    autoLatentStats(deps, done(a.id), true); // already has a latents run
    expect(submitted).toHaveLength(1);
    const pipeline = store.createRun({ kind: 'pipeline', config: {} });
    const b = saeRun(store, 'b', pipeline.id);
    autoLatentStats(deps, done(b.id), false);
    expect(submitted.map((s) => (s as { config: { sae: string } }).config.sae)).toEqual([a.id, b.id]);
    // Other kinds and statuses: nothing.
    autoLatentStats(deps, { type: 'status', runId: pipeline.id, status: 'completed' }, true);
    autoLatentStats(deps, { type: 'status', runId: a.id, status: 'failed' }, true);
    expect(submitted).toHaveLength(2);
  });
});
