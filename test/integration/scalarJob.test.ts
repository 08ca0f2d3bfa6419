/**
 * The SCALAR job end to end through the CLI: a tiny LM (train-lm --preset quick, 40 steps) and a TopK ffblock
 * SAE run (30 steps) in a fresh data dir, then `scalar eval` on it: the --json fields, the curves and edges in
 * the store, the per-token KL and edge-score artifacts (and the scores recomputed from the stored per-token KL
 * by hand), `scalar compare` of the run with itself, and a clear failure for an unknown SAE run that creates
 * no run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import { readSafetensorsFile } from '../../src-main/engine/io/safetensors.ts';
import { runArtifactsDir, Store } from '../../src-main/store/index.ts';
import { runCli } from './lmCli.helpers.ts';

interface EvalJson {
  run_id: string;
  status: string;
  backend: string;
  sae: string;
  scalar: {
    setup: string;
    pair: number;
    arch: string;
    auc_abs: number;
    auc_rel: number;
    auc_log2: number;
    auc_abs_ci: [number, number];
    full_circuit_kl: number;
    memory: { bound_mb: number; accounted_peak_mb: number; peak_rss_mb: number; peak_tensor_mb: number };
  }[];
  eval_config: Record<string, unknown>;
  error: string | null;
}

/** SPEC §4.4's 35 budgets (E_max = 2¹⁸; the SAEs have 512 latents, so F₀·F₁ = 2¹⁸). */
const PAPER_GRID = [
  1, 2, 4, 5, 7, 11, 16, 22, 32, 45, 63, 90, 127, 181, 256, 362, 512, 724, 1024, 1448, 2048, 2896, 4095, 5792,
  8191, 11585, 16383, 23170, 32768, 46340, 65536, 92681, 131072, 185363, 262144,
];
const F = 512;
const EVAL_TOKENS = 2 * 64; // --eval-seqs 2 windows of the quick LM's context 64

let tmp: string;
let D: string;
let saeRun: string;
let evalJson: EvalJson;

beforeAll(async () => {
  // Compiles and caches the kernel module before the CLI children need it.
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-job-'));
  D = path.join(tmp, 'data');
  const lm = await runCli(['train-lm', '--preset', 'quick', '--steps', '40', '--data-dir', D, '--json']);
  expect(lm.code, lm.stderr).toBe(0);
  const checkpoint = (lm.json as { checkpoint: string }).checkpoint;
  const sae = await runCli([
    'train-sae',
    '--lm',
    checkpoint,
    '--arch',
    'topk',
    '--setup',
    'ffblock',
    '--steps',
    '30',
    '--batch-size',
    '8',
    '--seq-len',
    '32',
    '--data-dir',
    D,
    '--json',
  ]);
  expect(sae.code, sae.stderr).toBe(0);
  saeRun = (sae.json as { run_id: string }).run_id;
  const ev = await runCli([
    'eval',
    '--sae',
    saeRun,
    '--attribution-seqs',
    '4',
    '--eval-seqs',
    '2',
    '--bootstrap',
    '20',
    '--max-memory-mb',
    '3000',
    '--data-dir',
    D,
    '--json',
  ]);
  expect(ev.code, ev.stderr).toBe(0);
  expect(ev.stderr).toMatch(/memory: peak RSS [\d.]+ MB, declared peak [\d.]+ MB of the 3000 MB bound/);
  evalJson = ev.json as EvalJson;
}, 240_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('scalar eval', () => {
  it('prints the documented JSON fields for both ffblock pairs', () => {
    expect(evalJson.run_id).toMatch(/^scalar-/);
    expect(evalJson.status).toBe('completed');
    expect(evalJson.error).toBeNull();
    expect(evalJson.sae).toBe(saeRun);
    expect(['wasm', 'cpu', 'webgpu', 'tensorflow-gpu', 'tensorflow-cpu']).toContain(evalJson.backend);
    expect(evalJson.scalar.map((s) => [s.setup, s.pair, s.arch])).toEqual([
      ['ffblock', 0, 'topk'],
      ['ffblock', 1, 'topk'],
    ]);
    for (const s of evalJson.scalar) {
      expect(s.auc_abs).toBeGreaterThan(0);
      expect(s.auc_rel).toBeCloseTo(s.auc_abs / (F * F), 12);
      expect(s.auc_log2).toBeGreaterThan(0);
      expect(s.auc_abs_ci[0]).toBeLessThanOrEqual(s.auc_abs);
      expect(s.auc_abs_ci[1]).toBeGreaterThanOrEqual(s.auc_abs);
      // The memory bound given, the declared peak inside it, the measured peak RSS.
      expect(s.memory.bound_mb).toBe(3000);
      expect(s.memory.accounted_peak_mb).toBeGreaterThan(0);
      expect(s.memory.accounted_peak_mb).toBeLessThanOrEqual(3000);
      expect(s.memory.peak_rss_mb).toBeGreaterThan(s.memory.accounted_peak_mb / 4);
    }
    expect(evalJson.eval_config).toMatchObject({ maxMemoryMb: 3000, memory_bound_mb: 3000 });
  });

  it('stores 35 curve points per pair and at least min(65536, F₀·F₁) ranked edges', () => {
    const store = Store.open(D);
    try {
      const curves = store.getScalarCurves(evalJson.run_id);
      expect(curves.map((c) => [c.pair, c.target])).toEqual([
        ['ffblock:0', 'model'],
        ['ffblock:1', 'model'],
      ]);
      for (const c of curves) {
        expect(c.points.map((p) => p.n)).toEqual(PAPER_GRID);
        for (const p of c.points) {
          expect(p.lo).toBeLessThanOrEqual(p.mean + 1e-12);
          expect(p.hi).toBeGreaterThanOrEqual(p.mean - 1e-12);
        }
        const edges = store.getEdges(evalJson.run_id, c.pair, { limit: 1_000_000 });
        expect(edges.length).toBeGreaterThanOrEqual(Math.min(65536, F * F));
        expect(edges.map((e) => e.rank)).toEqual(edges.map((_, r) => r));
        // Ranked by score: positive scores descending (then zeros).
        for (let r = 1; r < edges.length; r++) expect(edges[r].score).toBeLessThanOrEqual(edges[r - 1].score);
        expect(edges[0].score).toBeGreaterThan(0);
        for (const e of edges.slice(0, 100)) {
          expect(e.i).toBeGreaterThanOrEqual(0);
          expect(e.i).toBeLessThan(F);
          expect(e.j).toBeGreaterThanOrEqual(0);
          expect(e.j).toBeLessThan(F);
        }
      }
    } finally {
      store.close();
    }
  });

  it('writes per-token KL [35, tokens] and edge scores [F₀, F₁]; the scores follow from them by hand', () => {
    const store = Store.open(D);
    try {
      const curves = store.getScalarCurves(evalJson.run_id);
      for (const s of evalJson.scalar) {
        const dir = path.join(runArtifactsDir(D, evalJson.run_id), `pair${s.pair}`);
        const kl = readSafetensorsFile(path.join(dir, 'kl.safetensors')).tensors;
        expect(kl.per_token_kl.shape).toEqual([35, EVAL_TOKENS]);
        expect(Array.from(kl.grid.data as Int32Array)).toEqual(PAPER_GRID);
        const data = kl.per_token_kl.data as Float32Array;
        // Mean KL per budget, then the trapezoid areas on linear and log₂ axes (SPEC §4.4), in plain JS.
        const mean = PAPER_GRID.map((_, g) => {
          let t = 0;
          for (let i = 0; i < EVAL_TOKENS; i++) t += data[g * EVAL_TOKENS + i];
          return t / EVAL_TOKENS;
        });
        let abs = 0;
        let log2 = 0;
        for (let g = 1; g < PAPER_GRID.length; g++) {
          abs += ((PAPER_GRID[g] - PAPER_GRID[g - 1]) * (mean[g] + mean[g - 1])) / 2;
          log2 += ((Math.log2(PAPER_GRID[g]) - Math.log2(PAPER_GRID[g - 1])) * (mean[g] + mean[g - 1])) / 2;
        }
        expect(s.auc_abs).toBeCloseTo(abs, 6);
        expect(s.auc_log2).toBeCloseTo(log2, 9);
        const stored = curves.find((c) => c.pair === `ffblock:${s.pair}`)!;
        stored.points.forEach((p, g) => expect(p.mean).toBeCloseTo(mean[g], 9));
        // Every edge kept (N = 2¹⁸ = F₀·F₁) is the full circuit (these SAEs have ≥ k positive pre-activations
        // per token, so the missing ReLU changes nothing), so the curve ends at KL(full model ‖ full circuit).
        expect(mean.at(-1)).toBeCloseTo(s.full_circuit_kl, 9);
        const scores = readSafetensorsFile(path.join(dir, 'edge_scores.safetensors')).tensors.scores;
        expect(scores.shape).toEqual([F, F]);
        // The top stored edge is the largest score of the artifact.
        const top = store.getEdges(evalJson.run_id, `ffblock:${s.pair}`, { limit: 1 })[0];
        const values = scores.data as Float32Array;
        let max = 0;
        for (const v of values) max = Math.max(max, v);
        expect(values[top.i * F + top.j]).toBe(max);
        expect(top.score).toBeCloseTo(max, 5);
      }
    } finally {
      store.close();
    }
  });
});

describe('scalar compare and failures', () => {
  it('a run against itself: 0 % reduction on every pair and scale, zero-width intervals', async () => {
    const r = await runCli([
      'compare',
      '--run',
      evalJson.run_id,
      '--baseline',
      evalJson.run_id,
      '--bootstrap',
      '20',
      '--data-dir',
      D,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const out = r.json as {
      comparisons: {
        pairs: Record<string, number | number[] | string>[];
        aggregate: Record<string, Record<string, number>>;
      }[];
    };
    const [c] = out.comparisons;
    expect(c.pairs.map((p) => p.label)).toEqual(['ffblock:0', 'ffblock:1']);
    for (const p of c.pairs) {
      for (const k of ['abs', 'rel', 'log2']) {
        expect(p[`reduction_${k}_pct`]).toBe(0);
        expect(p[`reduction_${k}_ci`]).toEqual([0, 0]);
      }
    }
    for (const scale of ['abs', 'rel'])
      expect(c.aggregate[scale]).toEqual({ reduction_pct: 0, paper_style_reduction_pct: 0 });
  });

  it('eval --sae <unknown run> fails clearly and creates no run', async () => {
    const before = Store.open(D);
    const runsBefore = before.listRuns().length;
    before.close();
    const r = await runCli(['eval', '--sae', 'sae-does-not-exist', '--data-dir', D, '--json']);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/sae-does-not-exist/);
    const after = Store.open(D);
    try {
      expect(after.listRuns().length).toBe(runsBefore);
    } finally {
      after.close();
    }
  });
});
