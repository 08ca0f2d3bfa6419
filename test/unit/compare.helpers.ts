/**
 * Hand-made SAE and SCALAR runs for the comparer's tests (no training): SAE runs with summaries (L0, EV, ΔCE,
 * staircase chunk usage) and training metrics, SCALAR runs with their eval record, stored curves and the per-token
 * KL tables `scalar compare` reads. Values are deterministic (a small LCG), so expectations can be computed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeSafetensorsFile } from '../../src-main/engine/io/safetensors.ts';
import { scores } from '../../src-main/engine/scalar/curve.ts';
import { runArtifactsDir, type RunRecord, type Store } from '../../src-main/store/index.ts';

export const GRID = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
export const TOKENS = 48;
export const HOOKS = ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_pre', 'blocks.2.hook_resid_pre'];

function lcg(seed: number): () => number {
  let s = (seed * 2654435761 + 12345) >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export interface FixtureSae {
  run: RunRecord;
  arch: string;
  seed: number;
}

/** A completed SAE run (tblock, 2 positions) with a summary and train_loss / l0 metrics. */
export function seedSaeRun(
  store: Store,
  arch: string,
  seed: number,
  opts: { width?: number; name?: string; config?: unknown } = {},
): RunRecord {
  const width = opts.width ?? 64;
  const staircase = arch.startsWith('staircase');
  const rand = lcg(seed * 31 + arch.length);
  const run = store.createRun({
    kind: 'sae',
    name: opts.name ?? `${arch} tblock s${seed}`,
    seed,
    // A given config (e.g. exactly the job a reproduce step would submit) replaces the default one.
    config: opts.config ?? {
      kind: 'train-sae',
      config: { preset: 'quick', lm: 'resources:ascii-64x4-brown', arch, setup: 'tblock', width, k: 8, seed },
    },
  });
  store.startRun(run.id);
  const rows = [];
  for (let step = 0; step <= 200; step += 20) {
    rows.push({
      runId: run.id,
      step,
      scope: '',
      key: 'train_loss',
      value: 2 / (1 + step / 40) + 0.05 * rand(),
    });
    for (const hook of HOOKS.slice(0, 2))
      rows.push({ runId: run.id, step, scope: hook, key: 'l0', value: 8 + rand() });
  }
  store.recordMetricRows(rows);
  const saes = HOOKS.slice(0, 2).map((hook, p) => ({
    hook,
    d_sae: staircase ? width * (p + 1) : width,
    l0: 8,
    explained_variance: 0.8 + 0.02 * seed + (staircase ? 0.03 : 0),
    ce_loss_increase: 0.1,
    // Position p has chunks 0..p; the rows sum to l0.
    l0_per_chunk: staircase ? Array.from({ length: 2 }, (_, c) => (c <= p ? 8 / (p + 1) : 0)) : null,
  }));
  return store.finishRun(run.id, {
    saes,
    compoundCeLossIncrease: (staircase ? 0.2 : 0.3) + 0.01 * seed,
    params: 1000,
    steps: 200,
  });
}

/** Per-token KL at every budget: a decaying curve, faster for `decay` > 1, with per-token noise. */
export function klTable(seed: number, decay: number): Float32Array[] {
  const rand = lcg(seed + 7);
  const base = Array.from({ length: TOKENS }, () => 0.5 + rand());
  return GRID.map((n) => Float32Array.from(base, (b) => (b * 2) / (1 + (decay * n) / 8) + 0.01 * rand()));
}

/** A completed SCALAR run of an SAE run: 2 pairs, eval record, curves and kl.safetensors per pair. */
export function seedScalarRun(
  store: Store,
  sae: RunRecord,
  seed: number,
  decay: number,
  opts: { name?: string; config?: unknown; setup?: string } = {},
): RunRecord {
  const setup = opts.setup ?? 'tblock';
  const run = store.createRun({
    kind: 'scalar',
    name: opts.name ?? `SCALAR ${sae.name}`,
    parentId: sae.id,
    seed,
    config: opts.config ?? { kind: 'scalar', config: { preset: 'quick', sae: sae.id, seed, bootstrap: 200 } },
  });
  store.startRun(run.id);
  const f0 = 64;
  const f1 = 64;
  const pairs = [0, 1].map((pair) => {
    const label = `${setup}:${pair}`;
    const table = klTable(seed * 10 + pair, decay * (1 + 0.2 * pair));
    const mean = table.map((v) => v.reduce((a, b) => a + b, 0) / v.length);
    const sd = table.map((v, g) => Math.sqrt(v.reduce((a, b) => a + (b - mean[g]) ** 2, 0) / v.length));
    store.recordScalarCurve(
      run.id,
      label,
      'model',
      GRID.map((n, g) => ({
        n,
        mean: mean[g],
        lo: mean[g] - (1.96 * sd[g]) / Math.sqrt(TOKENS),
        hi: mean[g] + (1.96 * sd[g]) / Math.sqrt(TOKENS),
      })),
    );
    const dir = path.join(runArtifactsDir(store.dataDir, run.id), `pair${pair}`);
    fs.mkdirSync(dir, { recursive: true });
    const flat = new Float32Array(GRID.length * TOKENS);
    table.forEach((v, g) => flat.set(v, g * TOKENS));
    writeSafetensorsFile(path.join(dir, 'kl.safetensors'), {
      per_token_kl: { dtype: 'F32', shape: [GRID.length, TOKENS], data: flat },
      grid: { dtype: 'I32', shape: [GRID.length], data: Int32Array.from(GRID) },
    });
    const s = scores(GRID, mean, f0, f1);
    return {
      pair,
      label,
      up: HOOKS[pair],
      down: HOOKS[pair + 1],
      f0,
      f1,
      edges: f0 * f1,
      scalar_auc_abs: s.auc_abs,
      scalar_auc_rel: s.auc_rel,
      scalar_auc_log2: s.auc_log2,
      scalar_auc_abs_lo: s.auc_abs * 0.95,
      scalar_auc_abs_hi: s.auc_abs * 1.05,
      full_circuit_kl: 0,
    };
  });
  return store.finishRun(run.id, {
    eval_type_id: 'scalar',
    eval_config: { setup, arch: sae.arch },
    eval_result_metrics: { pairs },
  });
}

/** TopK and Staircase, `seeds` seeds each, with their SCALAR runs (staircase decays faster: sparser). */
export function seedComparison(
  store: Store,
  seeds = 3,
): { topk: RunRecord[]; staircase: RunRecord[]; saes: RunRecord[] } {
  const topk: RunRecord[] = [];
  const staircase: RunRecord[] = [];
  const saes: RunRecord[] = [];
  for (let s = 0; s < seeds; s++) {
    const a = seedSaeRun(store, 'topk', s);
    const b = seedSaeRun(store, 'staircase', s);
    saes.push(a, b);
    topk.push(seedScalarRun(store, a, s, 1 + 0.05 * s));
    staircase.push(seedScalarRun(store, b, s, 1.6 + 0.05 * s));
  }
  return { topk, staircase, saes };
}

/** Regex-based XML well-formedness: tags nest and close, attributes are quoted, '&' only in entities. */
export function xmlProblems(xml: string): string[] {
  const problems: string[] = [];
  const stack: string[] = [];
  const tagRe = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  let roots = 0;
  for (let m = tagRe.exec(xml); m; m = tagRe.exec(xml)) {
    const between = xml.slice(last, m.index);
    if (/[<>]/.test(between)) problems.push(`stray markup before <${m[2]}>: ${between.slice(0, 40)}`);
    if (/&(?!amp;|lt;|gt;|quot;|apos;|#\d+;)/.test(between + m[3])) problems.push(`bare & near <${m[2]}>`);
    last = tagRe.lastIndex;
    const [, closing, name, , selfClosing] = m;
    if (closing) {
      const open = stack.pop();
      if (open !== name) problems.push(`</${name}> closes <${open}>`);
    } else {
      if (stack.length === 0) roots++;
      if (!selfClosing) stack.push(name);
    }
  }
  if (xml.slice(last).trim() !== '') problems.push('text after the root');
  if (stack.length) problems.push(`unclosed ${stack.join(', ')}`);
  if (roots !== 1) problems.push(`${roots} roots`);
  return problems;
}

/** Width and height of a PNG from its IHDR chunk. */
export function pngSize(png: Uint8Array): { width: number; height: number } {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (!sig.every((b, i) => png[i] === b)) throw new Error('not a PNG');
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}
