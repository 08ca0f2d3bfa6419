/**
 * The whole-paper pipeline: for every seed, train the SAEs of the paper's comparisons (fflayer TopK vs JSAE,
 * ffblock and tblock TopK vs Staircase), run SCALAR on every pair, then compare each architecture with TopK
 * and write the report (Markdown, JSON, SVG figures). Each step is an ordinary job; the pipeline run records
 * their ids as it goes, so a killed pipeline resumes: completed steps are kept, interrupted ones resumed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lineFigure } from '../../src-shared/figures/line.ts';
import { PIPELINE_MATRIX, PIPELINE_PRESETS, type PipelineConfig } from '../../src-shared/pipeline.ts';
import { SCALAR_PRESETS, ScalarEvalConfigSchema } from '../../src-shared/scalar.ts';
import {
  renderReport,
  type ReportAggregate,
  type ReportComparison,
  type ReportSae,
  type ReportScore,
} from '../engine/scalar/report.ts';
import type { ScalarService } from '../api/service.ts';
import { runArtifactsDir, type RunRecord } from '../store/index.ts';
import { resolveLmRef } from './lmRef.ts';
import { readLmConfig } from '../engine/io/lmCheckpoint.ts';
import {
  paperSaeWidth,
  saeKey,
  saeTrainStep,
  scalarEvalStep,
  scalarKey,
  type PipelineStep,
} from './pipelineSteps.ts';
import { compareRuns } from './scalarResults.ts';
import { figureSvg } from '../figures/render.ts';
import { TRAINING_RECORD_FILE } from '../resources.ts';

export interface PipelineHooks {
  /** A step starts (or is resumed): its run id and position. */
  onStep?: (runId: string, index: number, total: number, key: string) => void;
  /** The pipeline run is recorded as running (called before the first step is queued). */
  onStart?: (run: RunRecord) => void;
}

function steps(config: PipelineConfig, width: number): PipelineStep[] {
  const source = { ...config, width };
  const out: PipelineStep[] = [];
  for (let s = 0; s < config.seeds; s++) {
    const seed = config.seed + s;
    for (const { setup, archs } of PIPELINE_MATRIX)
      for (const arch of archs)
        out.push(saeTrainStep(source, setup, arch, seed), scalarEvalStep(source, setup, arch, seed));
  }
  return out;
}

export async function runPipeline(
  service: ScalarService,
  config: PipelineConfig,
  opts: { resume?: string; name?: string; acceptChangedInputs?: boolean } & PipelineHooks = {},
): Promise<RunRecord> {
  const store = service.store;
  const lmPath = resolveLmRef(config.lm, store);
  let run = opts.resume
    ? store.requireRun(opts.resume)
    : store.createRun({
        kind: 'pipeline',
        name: opts.name ?? `pipeline ${config.preset}`,
        config,
        seed: config.seed,
      });
  if (run.status !== 'running')
    run = store.startRun(run.id, { ownerPid: process.pid, ownerHost: os.hostname() });
  opts.onStart?.(run);
  const children: Record<string, string> = { ...((run.progress?.children as Record<string, string>) ?? {}) };
  const plan = steps(config, paperSaeWidth(readLmConfig(lmPath).dModel));
  try {
    for (const [index, step] of plan.entries()) {
      const existing = children[step.key] ? store.getRun(children[step.key]) : undefined;
      let child: RunRecord;
      if (existing?.status === 'completed') continue;
      if (existing && ['failed', 'cancelled', 'interrupted'].includes(existing.status))
        child = service.jobs.resume(existing.id, { acceptChangedInputs: opts.acceptChangedInputs });
      // Already queued or running (e.g. resumed on its own before the pipeline was): wait for it.
      else if (existing) child = existing;
      else child = service.jobs.submit(step.spec(children), { name: step.name, parentId: run.id });
      children[step.key] = child.id;
      store.setProgress(run.id, { step: index, total: plan.length, children });
      opts.onStep?.(child.id, index, plan.length, step.key);
      const done = await service.jobs.wait(child.id);
      if (done.status !== 'completed')
        throw new Error(
          `step ${step.key} (${child.id}) ${done.status}${done.error ? `: ${done.error}` : ''}`,
        );
    }
    store.setProgress(run.id, { step: plan.length, total: plan.length, children });
    const summary = writeReport(service, run, config, lmPath, children);
    return store.finishRun(run.id, summary);
  } catch (err) {
    const status = (err as Error).message.includes(' cancelled') ? 'cancelled' : 'failed';
    return status === 'cancelled'
      ? store.updateRunStatus(run.id, 'cancelled', { error: (err as Error).message })
      : store.failRun(run.id, err);
  }
}

function writeReport(
  service: ScalarService,
  run: RunRecord,
  config: PipelineConfig,
  lmPath: string,
  children: Record<string, string>,
): Record<string, unknown> {
  const store = service.store;
  const dir = runArtifactsDir(store.dataDir, run.id);
  fs.mkdirSync(path.join(dir, 'figures'), { recursive: true });
  const scores: ReportScore[] = [];
  const comparisons: ReportComparison[] = [];
  const aggregates: ReportAggregate[] = [];
  const saes: ReportSae[] = [];
  const figures: string[] = [];
  let backend = 'unknown';
  const resamples = ScalarEvalConfigSchema.parse({
    ...SCALAR_PRESETS[PIPELINE_PRESETS[config.preset].scalar],
    sae: 'x',
  }).bootstrap;
  for (let s = 0; s < config.seeds; s++) {
    const seed = config.seed + s;
    for (const { setup, archs } of PIPELINE_MATRIX) {
      const runs = Object.fromEntries(
        archs.map((arch) => [arch, store.requireRun(children[scalarKey(setup, arch, seed)])]),
      );
      for (const arch of archs) {
        backend = runs[arch].backend ?? backend;
        const pairs = (runs[arch].summary as { eval_result_metrics: { pairs: Record<string, number>[] } })
          .eval_result_metrics.pairs;
        for (const p of pairs) {
          scores.push({
            setup,
            pair: p.pair,
            arch,
            seed,
            edges: p.edges,
            auc_abs: p.scalar_auc_abs,
            auc_rel: p.scalar_auc_rel,
            auc_log2: p.scalar_auc_log2,
            auc_abs_ci: [p.scalar_auc_abs_lo, p.scalar_auc_abs_hi],
            full_circuit_kl: p.full_circuit_kl,
          });
        }
        const saeRun = store.requireRun(children[saeKey(setup, arch, seed)]);
        const ss = saeRun.summary as {
          compoundCeLossIncrease: number;
          saes: Omit<ReportSae, 'setup' | 'arch' | 'seed' | 'compound_ce_loss_increase'>[];
        };
        for (const x of ss.saes)
          saes.push({
            setup,
            arch,
            seed,
            hook: x.hook,
            d_sae: x.d_sae,
            l0: x.l0,
            explained_variance: x.explained_variance,
            ce_loss_increase: x.ce_loss_increase,
            compound_ce_loss_increase: ss.compoundCeLossIncrease,
          });
      }
      const [baseline, other] = archs;
      const c = compareRuns(store, runs[other].id, runs[baseline].id, resamples, seed);
      for (const p of c.pairs) {
        comparisons.push({ ...p, setup, arch: other, baseline, seed });
        if (s === 0) {
          const file = `figures/${setup}_pair${p.pair}.svg`;
          const series = archs.map((arch) => ({
            label: arch,
            points: store
              .getScalarCurves(runs[arch].id)
              .find((curve) => curve.pair === p.label)!
              .points.map((q) => ({ x: q.n, y: q.mean, lo: q.lo, hi: q.hi })),
          }));
          const title = `SCALAR curve — ${setup} pair ${p.pair} (seed ${seed})`;
          const axes = { xLabel: 'edges kept N', yLabel: 'mean KL(full model ‖ subcircuit)', logX: true };
          fs.writeFileSync(
            path.join(dir, file),
            figureSvg((doc, w) => lineFigure(series, { ...axes, xBase: 2 }, w, doc, title), 640),
          );
          figures.push(file);
        }
      }
      aggregates.push({ setup, arch: other, baseline, seed, abs: c.aggregate.abs, rel: c.aggregate.rel });
    }
  }
  const recordPath = path.join(lmPath, TRAINING_RECORD_FILE);
  const lmRun = store.getRun(config.lm);
  const valLoss = lmRun
    ? ((lmRun.summary as { valLoss?: number }).valLoss ?? null)
    : fs.existsSync(recordPath)
      ? (JSON.parse(fs.readFileSync(recordPath, 'utf8')).val_loss ?? null)
      : null;
  const report = renderReport({
    title: 'SCALAR pipeline report',
    backend,
    lm: { ref: config.lm, val_loss: valLoss },
    preset: config.preset,
    scores,
    comparisons,
    aggregates,
    saes,
    figures,
  });
  fs.writeFileSync(path.join(dir, 'report.md'), report.markdown);
  fs.writeFileSync(path.join(dir, 'report.json'), JSON.stringify(report.json, null, 2));
  return {
    backend,
    lm: { ref: config.lm, val_loss: valLoss },
    scalar: scores.map((x) => ({
      setup: x.setup,
      pair: x.pair,
      arch: x.arch,
      seed: x.seed,
      auc_abs: x.auc_abs,
      auc_rel: x.auc_rel,
      auc_log2: x.auc_log2,
      auc_abs_ci: x.auc_abs_ci,
    })),
    comparisons: comparisons.map((c) => ({
      setup: c.setup,
      pair: c.pair,
      arch: c.arch,
      baseline: c.baseline,
      seed: c.seed,
      reduction_abs_pct: c.reduction_abs_pct,
      reduction_rel_pct: c.reduction_rel_pct,
      reduction_log2_pct: c.reduction_log2_pct,
      reduction_abs_ci: c.reduction_abs_ci,
      reduction_rel_ci: c.reduction_rel_ci,
    })),
    aggregates,
    report: path.join(dir, 'report.md'),
    report_json: path.join(dir, 'report.json'),
    figures: figures.map((f) => path.join(dir, f)),
    children,
  };
}
