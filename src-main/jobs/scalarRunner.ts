/** The `scalar` job inside a worker: SCALAR on every requested pair of a trained SAE run (SPEC §4). */
import fs from 'node:fs';
import path from 'node:path';
import type { JobSpec } from '../../src-shared/jobs.ts';
import { loadLmModel } from '../engine/io/lmCheckpoint.ts';
import { writeSafetensorsFile } from '../engine/io/safetensors.ts';
import { loadSaeSet } from '../engine/sae/checkpoint.ts';
import { evaluatePair, topEdges } from '../engine/scalar/evaluate.ts';
import { asciiTokenizer, evalBatches, loadCorpus, prepareSplits, type Batch } from '../engine/text/index.ts';
import { progressMessage, throttled, type JobContext } from './runners.ts';

/** Disjoint validation windows: the attribution set, then the evaluation set. */
function windows(
  corpusSpec: string,
  seqLen: number,
  attribution: number,
  evaluation: number,
): { attribution: Batch[]; evaluation: Batch[] } {
  const corpus = loadCorpus(corpusSpec);
  const splits = prepareSplits(asciiTokenizer.encode(corpus.text), seqLen, { corpusName: corpus.name });
  const [all] = evalBatches(splits.val, 1, attribution + evaluation, seqLen);
  const part = (from: number, count: number): Batch => ({
    inputs: all.inputs.slice(from * seqLen, (from + count) * seqLen),
    targets: all.targets.slice(from * seqLen, (from + count) * seqLen),
    starts: all.starts.slice(from, from + count),
    batchSize: count,
    contextLength: seqLen,
  });
  return { attribution: [part(0, attribution)], evaluation: [part(attribution, evaluation)] };
}

export async function runScalar(
  spec: Extract<JobSpec, { kind: 'scalar' }>,
  ctx: JobContext,
): Promise<Record<string, unknown>> {
  const config = spec.config;
  if (!ctx.lmPath || !ctx.saeRun) throw new Error('a scalar job needs its SAE run and language model');
  const lm = loadLmModel(ctx.lmPath);
  const set = loadSaeSet(ctx.saeRun.dir, ctx.saeRun.config, lm.config);
  try {
    const seqLen = config.seqLen ?? lm.config.contextLength;
    const data = windows(config.corpus, seqLen, config.attributionSeqs, config.evalSeqs);
    const pairs = set.pairs.filter((p) => !config.pairs || config.pairs.includes(p.index));
    if (pairs.length === 0)
      throw new Error(
        `no pair ${config.pairs?.join(', ')} in this ${set.spec.setup} run (pairs 0–${set.pairs.length - 1})`,
      );
    const due = throttled(250);
    const results = [];
    for (const pair of pairs) {
      const label = `${set.spec.setup}:${pair.index}`;
      const r = await evaluatePair({
        lm,
        set,
        pair,
        config,
        attribution: data.attribution,
        evaluation: data.evaluation,
        signal: ctx.signal,
        onProgress: (p) => {
          if (due(p.step === p.total)) {
            const msg = progressMessage(p, {});
            if (msg.type === 'progress') {
              msg.progress.phase = `${label} ${p.phase}`;
              msg.progress.unit = p.phase === 'attribution' ? 'tokens' : 'units';
            }
            ctx.post(msg);
          }
        },
      });
      ctx.post({
        type: 'curve',
        pair: label,
        target: config.target,
        points: r.grid.map((n, g) => ({ n, ...r.curve[g] })),
      });
      const edges = topEdges(r.ranking, r.edgeScores, r.f1, config.keepEdges);
      ctx.post({ type: 'edges', pair: label, ...edges });
      const dir = path.join(ctx.runDir, `pair${pair.index}`);
      fs.mkdirSync(dir, { recursive: true });
      const klFile = path.join(dir, 'kl.safetensors');
      const kl = new Float32Array(r.grid.length * r.perTokenKl[0].length);
      r.perTokenKl.forEach((k, g) => kl.set(k, g * k.length));
      writeSafetensorsFile(
        klFile,
        {
          per_token_kl: { dtype: 'F32', shape: [r.grid.length, r.perTokenKl[0].length], data: kl },
          grid: { dtype: 'I32', shape: [r.grid.length], data: Int32Array.from(r.grid) },
        },
        { target: config.target, up: r.up, down: r.down },
      );
      ctx.post({
        type: 'artifact',
        kind: 'scalar',
        name: `pair${pair.index}/kl.safetensors`,
        meta: { pair: label },
      });
      if (r.edgeScores) {
        writeSafetensorsFile(
          path.join(dir, 'edge_scores.safetensors'),
          {
            scores: { dtype: 'F32', shape: [r.f0, r.f1], data: r.edgeScores },
          },
          {
            scaling: config.scaling,
            steps: String(config.steps),
            layout: 'scores[i, j]: upstream latent i, downstream latent j',
          },
        );
        ctx.post({
          type: 'artifact',
          kind: 'scalar',
          name: `pair${pair.index}/edge_scores.safetensors`,
          meta: { pair: label },
        });
      }
      const metrics = {
        scalar_auc_abs: r.scores.auc_abs,
        scalar_auc_rel: r.scores.auc_rel,
        scalar_auc_log2: r.scores.auc_log2,
        scalar_auc_abs_lo: r.scores.auc_abs_ci[0],
        scalar_auc_abs_hi: r.scores.auc_abs_ci[1],
        scalar_auc_rel_lo: r.scores.auc_rel_ci[0],
        scalar_auc_rel_hi: r.scores.auc_rel_ci[1],
        scalar_auc_log2_lo: r.scores.auc_log2_ci[0],
        scalar_auc_log2_hi: r.scores.auc_log2_ci[1],
        full_circuit_kl: r.fullCircuitKl,
        attribution_seconds: r.seconds.attribution,
        ablation_seconds: r.seconds.ablation,
      };
      ctx.post({ type: 'metrics', step: 0, scope: label, values: metrics });
      results.push({
        pair: pair.index,
        label,
        up: r.up,
        down: r.down,
        f0: r.f0,
        f1: r.f1,
        edges: r.f0 * r.f1,
        ...metrics,
      });
    }
    // The SAELens / SAEBench style evaluation record.
    return {
      eval_type_id: 'scalar',
      eval_config: {
        ...config,
        setup: set.spec.setup,
        arch: set.spec.arch,
        seqLen,
        lm: ctx.saeRun.config.lm,
      },
      eval_result_metrics: { pairs: results },
      backend: ctx.backend.name,
    };
  } finally {
    set.dispose();
    lm.dispose();
  }
}
