/** Runs one job spec inside a worker: wires engine callbacks to worker messages. */
import path from 'node:path';
import type { JobSpec } from '../../src-shared/jobs.ts';
import type { BackendReport } from '../engine/backend.ts';
import { loadLmModel, readLmTokenizer } from '../engine/io/lmCheckpoint.ts';
import { exportSaeSet } from '../engine/io/saelens.ts';
import { inspectSaeLensSet, loadSaeLensSet } from '../engine/io/saelensImport.ts';
import { saveGroup } from '../engine/sae/checkpoint.ts';
import { evaluateSaeSet, type SetEval } from '../engine/sae/metrics.ts';
import type { SaeSet } from '../engine/sae/saeSet.ts';
import { saeEvalSet } from '../engine/sae/evalSet.ts';
import { loadCorpus, prepareSplits } from '../engine/text/index.ts';
import { trainLm } from '../engine/lm/train.ts';
import type { Progress } from '../engine/progress.ts';
import { trainSaes } from '../engine/sae/train.ts';
import { runScalar } from './scalarRunner.ts';
import { runLatentStats } from './latentStatsRunner.ts';
import { runValidateRanking } from './validationRunner.ts';
import type { WorkerInit, WorkerMessage } from './protocol.ts';

export interface JobContext {
  runId: string;
  runDir: string;
  lmPath?: string;
  saeRun?: WorkerInit['saeRun'];
  signal: AbortSignal;
  post: (m: WorkerMessage) => void;
  backend: BackendReport;
}

/** Progress at most every `ms`, plus the final step. */
export function throttled(ms: number) {
  let last = 0;
  return (force: boolean) => {
    const now = performance.now();
    if (!force && now - last < ms) return false;
    last = now;
    return true;
  };
}

export async function runJob(spec: JobSpec, ctx: JobContext): Promise<Record<string, unknown>> {
  switch (spec.kind) {
    case 'train-lm':
      return runTrainLm(spec, ctx);
    case 'train-sae':
      return runTrainSae(spec, ctx);
    case 'import-sae':
      return runImportSae(spec, ctx);
    case 'scalar':
      return runScalar(spec, ctx);
    case 'latent-stats':
      return runLatentStats(spec, ctx);
    case 'validate-ranking':
      return runValidateRanking(spec, ctx);
  }
}

export function progressMessage(p: Progress, values: Record<string, number>): WorkerMessage {
  return {
    type: 'progress',
    progress: {
      step: p.step,
      total: p.total,
      stepsPerSecond: p.stepsPerSecond,
      unitsPerSecond: p.unitsPerSecond,
      unit: 'tokens',
      elapsedSeconds: p.elapsedSeconds,
      etaSeconds: Number.isFinite(p.etaSeconds) ? p.etaSeconds : null,
      values,
    },
  };
}

export const SAE_EXPORT_DIR = 'saes';

async function runTrainSae(spec: Extract<JobSpec, { kind: 'train-sae' }>, ctx: JobContext) {
  if (!ctx.lmPath) throw new Error('train-sae needs a language model path');
  const lm = loadLmModel(ctx.lmPath);
  const due = throttled(250);
  try {
    const result = await trainSaes({
      config: spec.config,
      lm,
      tokenizer: readLmTokenizer(ctx.lmPath),
      outDir: ctx.runDir,
      signal: ctx.signal,
      onProgress: (p) => {
        if (due(p.step === p.total)) ctx.post(progressMessage(p, { loss: p.loss, l0: p.l0, lr: p.lr }));
      },
      onTrainMetrics: (step, scope, values) => ctx.post({ type: 'metrics', step, scope, values }),
      onEval: (step, ev, extra) => {
        postEvaluation(ctx, step, ev, extra.frac_alive, extra.jacobian_l1);
        ctx.post({ type: 'artifact', kind: 'checkpoint', name: 'state.safetensors', meta: { step } });
      },
      onCheckpoint: (step) =>
        ctx.post({ type: 'artifact', kind: 'checkpoint', name: 'state.safetensors', meta: { step } }),
    });
    const exportDir = await exportSaes(ctx, result.set, result.seqLen);
    const ev = result.evaluation;
    result.set.dispose();
    return {
      steps: result.steps,
      seqLen: result.seqLen,
      resumedFrom: result.resumedFrom,
      params: result.params,
      tokensPerSecond: result.tokensPerSecond,
      lm: spec.config.lm,
      arch: spec.config.arch,
      setup: spec.config.setup,
      cleanCe: ev.clean_ce,
      compoundCeLossIncrease: ev.compound_ce_loss_increase,
      compoundKlDiv: ev.compound_kl_div,
      jacobianL1: result.jacobianL1,
      lambdaNorm: spec.config.arch === 'jsae' ? spec.config.lambdaNorm : null,
      bestSteps: result.bestSteps,
      evaluation: result.protocol,
      schedule: result.schedule,
      layers: spec.config.layers ?? null,
      data: result.data,
      saes: ev.saes.map((s) => ({ ...s, frac_alive: result.fracAlive[s.hook] })),
      exportDir,
    };
  } finally {
    lm.dispose();
  }
}

/** One evaluation's metrics as store rows: per SAE (scope = hook) and for the whole run (scope ''). */
function postEvaluation(
  ctx: JobContext,
  step: number,
  ev: SetEval,
  fracAlive: Record<string, number> | null,
  jacobianL1?: number,
): void {
  for (const s of ev.saes) {
    const values: Record<string, number> = {
      mse: s.mse,
      explained_variance: s.explained_variance,
      l0: s.l0,
      ce_loss_increase: s.ce_loss_increase,
      kl_div: s.kl_div,
    };
    if (fracAlive) values.frac_alive = fracAlive[s.hook];
    s.l0_per_chunk?.forEach((c, i) => (values[`l0_chunk_${i}`] = c));
    ctx.post({ type: 'metrics', step, scope: s.hook, values });
  }
  const run: Record<string, number> = {
    clean_ce: ev.clean_ce,
    compound_ce_loss_increase: ev.compound_ce_loss_increase,
    compound_kl_div: ev.compound_kl_div,
  };
  if (jacobianL1 !== undefined) run.jacobian_l1 = jacobianL1;
  ctx.post({ type: 'metrics', step, scope: '', values: run });
}

/** Writes the run's SAEs as SAELens folders (artifacts); returns the export folder. */
async function exportSaes(ctx: JobContext, set: SaeSet, seqLen: number): Promise<string> {
  const exportDir = path.join(ctx.runDir, SAE_EXPORT_DIR);
  const folders = await exportSaeSet(exportDir, set, {
    runId: ctx.runId,
    modelName: path.basename(ctx.lmPath!),
    contextSize: seqLen,
  });
  for (const f of folders) {
    const isStaircase = !f.startsWith('blocks.');
    ctx.post({
      type: 'artifact',
      kind: 'sae',
      name: `${SAE_EXPORT_DIR}/${f}/${isStaircase ? 'staircase.safetensors' : 'sae_weights.safetensors'}`,
      meta: { folder: f },
    });
  }
  return exportDir;
}

/**
 * SAEs in the SAELens layout become an SAE run: checked against the LM, stored as the run's best checkpoint
 * (what SCALAR loads), re-exported, and evaluated like a trained run's final evaluation.
 */
async function runImportSae(spec: Extract<JobSpec, { kind: 'import-sae' }>, ctx: JobContext) {
  if (!ctx.lmPath) throw new Error('import-sae needs a language model path');
  const c = spec.config;
  const lm = loadLmModel(ctx.lmPath);
  try {
    const info = inspectSaeLensSet(c.source, lm.config);
    const mismatch = (['arch', 'setup', 'width', 'k'] as const).filter((key) => info[key] !== c[key]);
    if (mismatch.length)
      throw new Error(`${c.source} changed since the import was submitted (${mismatch.join(', ')} differ)`);
    const set = loadSaeLensSet(info, lm.config);
    try {
      for (const g of set.groups) await saveGroup(ctx.runDir, set, g);
      const seqLen = c.seqLen ?? lm.config.contextLength;
      const corpus = loadCorpus(c.corpus);
      const splits = prepareSplits(readLmTokenizer(ctx.lmPath).encode(corpus.text), seqLen, {
        trainFraction: c.trainFraction,
        corpusName: corpus.name,
      });
      const evalSet = saeEvalSet(c, splits.val, c.batchSize, seqLen);
      const ev = await evaluateSaeSet(lm, set, evalSet.batches);
      postEvaluation(ctx, 0, ev, null);
      const exportDir = await exportSaes(ctx, set, seqLen);
      return {
        steps: 0,
        seqLen,
        params: set.numParams(),
        lm: c.lm,
        arch: c.arch,
        setup: c.setup,
        width: c.width,
        k: c.k,
        importedFrom: path.resolve(c.source),
        evaluation: evalSet.info,
        cleanCe: ev.clean_ce,
        compoundCeLossIncrease: ev.compound_ce_loss_increase,
        compoundKlDiv: ev.compound_kl_div,
        jacobianL1: null,
        saes: ev.saes.map((s) => ({ ...s, frac_alive: null })),
        exportDir,
      };
    } finally {
      set.dispose();
    }
  } finally {
    lm.dispose();
  }
}

async function runTrainLm(spec: Extract<JobSpec, { kind: 'train-lm' }>, ctx: JobContext) {
  const due = throttled(250);
  const result = await trainLm({
    config: spec.config,
    outDir: ctx.runDir,
    signal: ctx.signal,
    onProgress: (p) => {
      if (due(p.step === p.total)) ctx.post(progressMessage(p, { loss: p.loss, lr: p.lr }));
    },
    onEval: (e) => {
      ctx.post({
        type: 'metrics',
        step: e.step,
        scope: '',
        values: { train_loss: e.trainLoss, val_loss: e.valLoss, lr: e.lr },
      });
      if (e.isBest)
        ctx.post({
          type: 'artifact',
          kind: 'best',
          name: 'best/model.safetensors',
          meta: { step: e.step, val_loss: e.valLoss },
        });
      ctx.post({ type: 'artifact', kind: 'checkpoint', name: 'state.safetensors', meta: { step: e.step } });
    },
  });
  return { ...result };
}
