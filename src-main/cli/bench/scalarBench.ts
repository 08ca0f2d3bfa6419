/**
 * `bench scalar`: SCALAR on one tblock TopK pair (pair 1: blocks.1.hook_resid_pre → blocks.2.hook_resid_pre) at
 * paper settings — integrated-gradient attribution on 576 × 128 validation tokens (S = 4, reference scaling) and
 * the 35-budget ablation grid on 50 × 128 evaluation tokens. The PyTorch peer's cost does not depend on the
 * weights or the text; ours does (it exploits which latents are active), so ours runs on trained SAEs and real
 * text: TopK ×8 SAEs are first trained at the tblock positions of the bundled model (untimed, reported).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LM_PRESETS } from '../../../src-shared/lm.ts';
import { SAE_PRESETS, SaeTrainConfigSchema } from '../../../src-shared/sae.ts';
import { ScalarEvalConfigSchema } from '../../../src-shared/scalar.ts';
import { loadLmModel } from '../../engine/io/lmCheckpoint.ts';
import { Gpt } from '../../engine/lm/gpt.ts';
import { evaluatePair } from '../../engine/scalar/evaluate.ts';
import { trainSaes } from '../../engine/sae/train.ts';
import {
  asciiTokenizer,
  evalBatches,
  loadCorpus,
  prepareSplits,
  type Batch,
} from '../../engine/text/index.ts';
import { listBundledModels } from '../../resources.ts';

export async function benchScalar(
  opts: { saeSteps?: number; attributionSeqs?: number; evalSeqs?: number } = {},
) {
  const bundled = listBundledModels()[0];
  const lm = bundled ? loadLmModel(bundled.dir) : Gpt.init(LM_PRESETS['ascii-64x4'].model, 125);
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-bench-'));
  try {
    const t0 = performance.now();
    const saeConfig = SaeTrainConfigSchema.parse({
      preset: 'bench',
      lm: bundled ? `resources:${bundled.name}` : 'random-init',
      arch: 'topk',
      setup: 'tblock',
      schedule: {
        ...SAE_PRESETS.quick,
        steps: opts.saeSteps ?? 600,
        warmupSteps: 60,
        evalEvery: opts.saeSteps ?? 600,
        evalBatches: 1,
      },
    });
    const trained = await trainSaes({ config: saeConfig, lm, outDir });
    const saeSeconds = (performance.now() - t0) / 1000;
    const ev = trained.evaluation.saes;

    const config = ScalarEvalConfigSchema.parse({
      sae: 'bench',
      attributionSeqs: opts.attributionSeqs ?? 576,
      evalSeqs: opts.evalSeqs ?? 50,
      bootstrap: 0,
    });
    const T = lm.config.contextLength;
    const corpus = loadCorpus(config.corpus);
    const [all] = evalBatches(
      prepareSplits(asciiTokenizer.encode(corpus.text), T).val,
      1,
      config.attributionSeqs + config.evalSeqs,
      T,
    );
    const part = (from: number, count: number): Batch[] => [
      {
        inputs: all.inputs.slice(from * T, (from + count) * T),
        targets: all.targets.slice(from * T, (from + count) * T),
        starts: all.starts.slice(from, from + count),
        batchSize: count,
        contextLength: T,
      },
    ];
    const r = await evaluatePair({
      lm,
      set: trained.set,
      pair: trained.set.pairs[1],
      config,
      attribution: part(0, config.attributionSeqs),
      evaluation: part(config.attributionSeqs, config.evalSeqs),
    });
    trained.set.dispose();
    const round = (x: number) => Math.round(x * 100) / 100;
    return {
      seconds_attribution: round(r.seconds.attribution),
      seconds_ablation_grid: round(r.seconds.ablation),
      seconds_total: round(r.seconds.attribution + r.seconds.ablation),
      attribution_tokens: config.attributionSeqs * T,
      evaluation_tokens: config.evalSeqs * T,
      grid_points: r.grid.length,
      steps_S: config.steps,
      pair: `${r.up} -> ${r.down}`,
      edges: r.f0 * r.f1,
      scalar_auc_abs: round(r.scores.auc_abs),
      mean_kl_first_last: [r.curve[0].mean, r.curve[r.curve.length - 1].mean].map(
        (v) => Math.round(v * 1e5) / 1e5,
      ),
      lm: bundled ? `resources:${bundled.name}` : 'ascii-64x4 random init (no bundled model found)',
      sae_training: {
        steps: trained.steps,
        seconds: round(saeSeconds),
        explained_variance: ev.map((e) => Math.round(e.explained_variance * 1000) / 1000),
        l0: ev.map((e) => Math.round(e.l0 * 100) / 100),
      },
    };
  } finally {
    lm.dispose();
    fs.rmSync(outDir, { recursive: true, force: true });
  }
}
