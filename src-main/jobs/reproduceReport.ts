/**
 * The reproduction's report from its stored runs: per-seed % reductions vs TopK with paired-bootstrap CIs and both
 * aggregates (`scalar compare`'s code, via the Api's scalarComparison), compound ΔCE and staircase chunk usage from
 * the SAE runs' summaries; then the claims (src-shared/reproduce) as report.json, report.md and figures (SVG + PNG).
 */
import fs from 'node:fs';
import path from 'node:path';
import { lineFigure } from '../../src-shared/figures/line.ts';
import { PIPELINE_PRESETS } from '../../src-shared/pipeline.ts';
import { CHALLENGER, reproduceCells, type ReproduceConfig } from '../../src-shared/reproduce.ts';
import { newChunkShares, type SeedReduction, type SeedSae } from '../../src-shared/reproduce/claims.ts';
import { reproduceFigures } from '../../src-shared/reproduce/figures.ts';
import { buildReport, reportMarkdown, type SeedAggregate } from '../../src-shared/reproduce/report.ts';
import { SCALAR_PRESETS, ScalarEvalConfigSchema } from '../../src-shared/scalar.ts';
import { scalarComparison } from '../api/compare.ts';
import { renderFigure } from '../figures/render.ts';
import { runArtifactsDir, type RunRecord, type Store } from '../store/index.ts';
import { reproduceSteps, saeKey, scalarKey } from './reproduce.ts';

const FIGURE_WIDTH = 640;

interface SaeSummary {
  compoundCeLossIncrease?: number;
  jacobianL1?: number | null;
  saes?: { hook?: string; explained_variance?: number; l0_per_chunk?: number[] | null }[];
}

/** Mean explained variance of an SAE run's `hook_mlp_out` SAEs (the outputs JSAE's penalty acts on). */
function meanMlpOutEv(summary: SaeSummary): number | null {
  const ev = (summary.saes ?? [])
    .filter((x) => x.hook?.endsWith('hook_mlp_out') && typeof x.explained_variance === 'number')
    .map((x) => x.explained_variance!);
  return ev.length ? ev.reduce((a, b) => a + b, 0) / ev.length : null;
}

export function writeReproduceReport(
  store: Store,
  run: RunRecord,
  config: ReproduceConfig,
  children: Record<string, string>,
  reused: Set<string>,
): Record<string, unknown> {
  const dir = runArtifactsDir(store.dataDir, run.id);
  const resamples = ScalarEvalConfigSchema.parse({
    ...SCALAR_PRESETS[PIPELINE_PRESETS[config.preset].scalar],
    sae: 'x',
  }).bootstrap;
  const seeds = Array.from({ length: config.seeds }, (_, s) => config.seed + s);
  const cells = reproduceCells(config);
  const reductions: SeedReduction[] = [];
  const aggregates: SeedAggregate[] = [];
  const saes: SeedSae[] = [];
  let backend = 'unknown';
  for (const seed of seeds) {
    for (const { setup, arch } of cells) {
      const s = store.requireRun(children[saeKey(setup, arch, seed)]);
      const summary = (s.summary ?? {}) as SaeSummary;
      saes.push({
        setup,
        arch,
        seed,
        compoundCe: summary.compoundCeLossIncrease ?? null,
        mlpOutEv: meanMlpOutEv(summary),
        jacobianL1: summary.jacobianL1 ?? null,
        newChunkShare: arch.startsWith('staircase')
          ? newChunkShares((summary.saes ?? []).map((x) => x.l0_per_chunk))
          : [],
        newChunkLabels: (summary.saes ?? []).map(
          (x) => `${x.hook ?? '?'} (position ${Math.max(0, (x.l0_per_chunk?.length ?? 1) - 1)})`,
        ),
      });
    }
    for (const setup of config.setups) {
      const arch = CHALLENGER[setup];
      for (const target of ['model', 'circuit'] as const) {
        const xId = children[scalarKey(setup, arch, seed, target)];
        const baseId = children[scalarKey(setup, 'topk', seed, target)];
        // Circuit-target runs exist only where the reproduction asks for them (CIRCUIT_TARGET_SETUPS).
        if (target === 'circuit' && (!xId || !baseId)) continue;
        const x = store.requireRun(xId);
        const base = store.requireRun(baseId);
        backend = x.backend ?? backend;
        const c = scalarComparison(store, x.id, base.id, resamples, seed);
        for (const p of c.pairs)
          reductions.push({
            setup,
            arch,
            seed,
            pair: p.pair,
            target,
            abs: p.reduction_abs_pct,
            rel: p.reduction_rel_pct,
            absCi: p.reduction_abs_ci,
            relCi: p.reduction_rel_ci,
          });
        // The headline aggregates are the paper's: against the model.
        if (target === 'model')
          aggregates.push({
            setup,
            arch,
            seed,
            abs: {
              one_unit: c.aggregate.abs.reduction_pct,
              paper_style: c.aggregate.abs.paper_style_reduction_pct,
            },
            rel: {
              one_unit: c.aggregate.rel.reduction_pct,
              paper_style: c.aggregate.rel.paper_style_reduction_pct,
            },
          });
      }
    }
  }
  const runs = reproduceSteps(config).map((st) => ({
    key: st.key,
    id: children[st.key],
    reused: reused.has(st.key),
  }));
  const inputs = {
    seeds,
    trained: cells.map(({ setup, arch }) => ({ setup, arch })),
    reductions,
    saes,
    aggregates,
    config,
    backend,
    runs,
  };
  const figures = reproduceFigures({ pairs: buildReport({ ...inputs, figures: [] }).pairs });
  const files: string[] = [];
  fs.mkdirSync(path.join(dir, 'figures'), { recursive: true });
  for (const f of figures) {
    const r = renderFigure(
      (doc, w) => lineFigure(f.series, { ...f.options, interactive: false }, w, doc, f.title),
      FIGURE_WIDTH,
    );
    fs.writeFileSync(path.join(dir, 'figures', `${f.name}.svg`), r.svg);
    fs.writeFileSync(path.join(dir, 'figures', `${f.name}.png`), r.png);
    files.push(`figures/${f.name}.svg`);
  }
  const report = buildReport({ ...inputs, figures: files });
  fs.writeFileSync(path.join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(path.join(dir, 'report.md'), reportMarkdown(report));
  return {
    backend,
    report: path.join(dir, 'report.md'),
    report_json: path.join(dir, 'report.json'),
    claims: report.claims.map((c) => ({ id: c.id, claim: c.claim, verdict: c.verdict })),
    reproduction: report,
  };
}
