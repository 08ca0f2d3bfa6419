/**
 * Data for the GPT-2-shaped latent-page and explorer suite (issue 12 item 7): a tiny GPT-2 folder (the real
 * 50,257-token vocabulary and BPE, 12 blocks of width 32), a TopK SAE of width 24,576 on one ffblock pair trained
 * for two steps, its latent statistics on a few windows, and a SCALAR run of that SAE whose pair stores 2¹⁸
 * ranked edges — written as store rows (a real SCALAR run at this size takes far longer than an e2e may), skewed
 * so strong edges share latents as attribution edges do. In-process, then closed for the web-mode server.
 */
import path from 'node:path';
import { ScalarService } from '../../src-main/api/service.ts';
import { saeJobFromOptions } from '../../src-shared/jobBuilders.ts';
import { gpt2Weights, writeGpt2Folder, type Shape } from '../unit/gpt2.helpers.ts';

export const GPT2_WIDTH = 24_576;
/** 2¹⁸ (the paper grid's largest budget): enough to show the cap; 10⁶ rows take about a minute to write. */
export const GPT2_EDGES = 262_144;
const SHAPE: Shape = { V: 50257, T: 64, D: 32, L: 12, H: 2, eps: 1e-5 };

export interface Gpt2LatentData {
  sae: string;
  scalar: string;
  hooks: string[];
  pair: string;
  seconds: { sae: number; latents: number; edges: number };
}

export async function buildGpt2LatentData(dir: string): Promise<Gpt2LatentData> {
  const lm = writeGpt2Folder(path.join(dir, 'gpt2-tiny'), SHAPE, gpt2Weights(SHAPE, 3));
  const service = new ScalarService({ dataDir: path.join(dir, 'data'), mode: 'cli', autoLatentStats: false });
  try {
    let t = performance.now();
    const built = saeJobFromOptions({
      lm,
      arch: 'topk',
      setup: 'ffblock',
      preset: 'gpt2-small-cpu',
      layers: [1],
      width: GPT2_WIDTH,
      k: 32,
      steps: 2,
      evalEvery: 2,
      evalTokens: 128,
      batchSize: 4,
      seqLen: 64,
    });
    if (!built.ok) throw new Error(built.issues.map((i) => i.message).join('; '));
    const run = service.jobs.submit(built.spec, { name: 'gpt2 topk 24576 (e2e)' });
    const sae = await service.jobs.wait(run.id);
    if (sae.status !== 'completed') throw new Error(`SAE ${sae.id} ${sae.status}: ${sae.error}`);
    const tSae = (performance.now() - t) / 1000;
    t = performance.now();
    const q = await service.call('latents.compute', {
      run: sae.id,
      force: false,
      config: { seqs: 8, batchSize: 8, seqLen: 64, contextBefore: 12 },
    });
    const stats = await service.jobs.wait(q.id);
    if (stats.status !== 'completed') throw new Error(`latent stats ${stats.id}: ${stats.error}`);
    const tLatents = (performance.now() - t) / 1000;
    t = performance.now();
    const hooks = (sae.summary as { saes: { hook: string }[] }).saes.map((s) => s.hook);
    const pair = 'ffblock:1';
    const scalar = seedScalarEdges(service, sae.id, pair, hooks);
    return {
      sae: sae.id,
      scalar,
      hooks,
      pair,
      seconds: { sae: tSae, latents: tLatents, edges: (performance.now() - t) / 1000 },
    };
  } finally {
    await service.close();
  }
}

/** A completed SCALAR run of `sae` whose pair stores GPT2_EDGES edges by rank and a curve up to them. */
function seedScalarEdges(service: ScalarService, sae: string, pair: string, hooks: string[]): string {
  const store = service.store;
  const run = store.createRun({
    kind: 'scalar',
    name: `SCALAR gpt2 24576 (seeded, ${GPT2_EDGES.toLocaleString('en-US')} edges)`,
    parentId: sae,
    config: { kind: 'scalar', config: { sae, ranking: 'ig', scaling: 'reference', keepEdges: GPT2_EDGES } },
    arch: 'topk',
    setup: 'ffblock',
  });
  store.startRun(run.id);
  const W = GPT2_WIDTH;
  const i = new Int32Array(GPT2_EDGES);
  const j = new Int32Array(GPT2_EDGES);
  const score = new Float32Array(GPT2_EDGES);
  let s = 12345;
  const rand = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const seen = new Set<number>();
  for (let r = 0; r < GPT2_EDGES;) {
    // Distinct (i, j); strong edges concentrate on few latents (u² skew).
    const a = Math.floor(W * rand() ** 2);
    const b = Math.floor(W * rand() ** 2);
    if (seen.has(a * W + b)) continue;
    seen.add(a * W + b);
    i[r] = a;
    j[r] = b;
    score[r] = 1 / (1 + r) ** 0.7;
    r++;
  }
  store.recordEdges(run.id, pair, { i, j, score });
  const points = [];
  for (let e = 0; e <= 18; e++) {
    const mean = 2 * Math.exp(-e / 4) + 0.02;
    points.push({ n: 2 ** e, mean, lo: mean * 0.9, hi: mean * 1.1 });
  }
  store.recordScalarCurve(run.id, pair, 'model', points);
  store.finishRun(run.id, {
    eval_type_id: 'scalar',
    eval_result_metrics: {
      pairs: [{ pair: 1, label: pair, up: hooks[0], down: hooks[1], f0: W, f1: W, edges: W * W }],
    },
  });
  return run.id;
}
