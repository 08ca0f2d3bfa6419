/**
 * `bench gpt2-sae`: SAE training costs at GPT-2 Small's real shapes, built in memory with random weights (no
 * download; costs do not depend on the values): 12 blocks, D 768, 12 heads, MLP 3,072, vocabulary 50,257,
 * context 1,024. Three phases, each a few untimed + timed steps:
 *
 *   lm        the frozen forward to blocks.11.hook_resid_post as the trainer runs it (layer by layer, no head),
 *             B windows of T tokens
 *   sae       one TopK SAE, F 24,576, k 32, one optimizer step (encode, sparse decode, backward, AdamW) per
 *             micro-batch of B·T activation rows
 *   pair      an ffblock TopK pair (two such SAEs, as the gpt2-paper preset trains three of)
 *
 * Per phase: tokens/s, ms per step, and the peak resident set (VmHWM, reset before the phase where Linux allows
 * it), the peak V8 heap and the peak bytes tfjs holds in tensors, sampled after every step.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import type { GptConfig } from '../../../src-shared/lm.ts';
import { Gpt } from '../../engine/lm/gpt.ts';
import { AdamW } from '../../engine/optim.ts';
import { Rng } from '../../engine/random.ts';
import { lmActivations } from '../../engine/sae/lmActivations.ts';
import { SaeSet, type SaeView } from '../../engine/sae/saeSet.ts';
import { saeTrainStep } from '../../engine/sae/step.ts';
import { randomTokenBatch, throughput } from './lmBench.ts';

export const GPT2_SMALL: GptConfig = {
  vocabSize: 50257,
  contextLength: 1024,
  dModel: 768,
  nLayer: 12,
  nHead: 12,
  dMlp: 3072,
  norm2: 'layernorm',
  lnEps: 1e-5,
  dytAlphaInit: 10,
};

const MB = 1024 * 1024;

/** Peak resident set since the last reset (Linux VmHWM), in MiB; null elsewhere. */
function peakRssMb(): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

/** Resets VmHWM to the current resident set (Linux ≥ 4.0); false where not allowed. */
function resetPeakRss(): boolean {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** Runs `warmup + steps` steps of `fn`, timing the last `steps`; memory peaks over the whole phase. */
async function phase(tokensPerStep: number, warmup: number, steps: number, fn: () => Promise<void>) {
  const reset = resetPeakRss();
  let heap = 0;
  let tensors = 0;
  let rssSampled = 0;
  const ms: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    await fn();
    if (i >= warmup) ms.push(performance.now() - t0);
    const m = process.memoryUsage();
    heap = Math.max(heap, m.heapUsed);
    rssSampled = Math.max(rssSampled, m.rss);
    tensors = Math.max(tensors, tf.memory().numBytes);
  }
  return {
    ...throughput(ms, tokensPerStep),
    rss_peak_mb: peakRssMb() ?? Math.round(rssSampled / MB),
    rss_peak_source: reset ? 'VmHWM over the phase' : 'largest RSS sampled after a step',
    heap_used_peak_mb: Math.round(heap / MB),
    tensor_bytes_peak_mb: Math.round(tensors / MB),
  };
}

export async function benchGpt2Sae(
  opts: { batch?: number; seqLen?: number; steps?: number; warmup?: number } = {},
) {
  const B = opts.batch ?? 8;
  const T = opts.seqLen ?? 128;
  const steps = opts.steps ?? 2;
  const warmup = opts.warmup ?? 1;
  const width = 24_576;
  const k = 32;
  const c = GPT2_SMALL;
  const t0 = performance.now();
  const lm = Gpt.init(c, 11);
  const initSeconds = (performance.now() - t0) / 1000;
  const rng = new Rng(12);
  const last = `blocks.${c.nLayer - 1}.hook_resid_post`;
  try {
    const lmPhase = await phase(B * T, warmup, steps, async () => {
      const acts = lmActivations(lm, randomTokenBatch(rng, B, T, c.vocabSize), [last]);
      await acts[last].data();
      tf.dispose(Object.values(acts));
    });
    const saePhase = async (views: 1 | 2) => {
      // An ffblock pair at block 6; one SAE is its first view alone (its own four parameters).
      const full = new SaeSet({
        arch: 'topk',
        setup: 'ffblock',
        width,
        k,
        dModel: c.dModel,
        nLayer: c.nLayer,
        seed: 13,
        layers: [6],
      });
      const chosen = full.views.slice(0, views);
      const set = { views: chosen, pairs: [], weights: (v: SaeView) => full.weights(v) } as unknown as SaeSet;
      const params = Object.fromEntries(
        chosen.flatMap((v) => [
          [`${v.hook}.W_enc`, v.dict.wEnc],
          [`${v.hook}.W_dec`, v.dict.wDec],
          [`${v.hook}.b_enc`, v.bEnc],
          [`${v.hook}.b_dec`, v.bDec],
        ]),
      );
      const opt = new AdamW(params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: () => 0 });
      const config = {
        arch: 'topk' as const,
        lambda: 0,
        lambdaNorm: 'mean' as const,
        schedule: { gradClip: 1 },
      };
      // Activations of unit scale (the SAE's cost does not depend on their values).
      const acts = Object.fromEntries(
        chosen.map((v) => [v.hook, tf.randomNormal([B * T, c.dModel], 0, 1, 'float32', 14) as tf.Tensor2D]),
      );
      try {
        const figures = await phase(B * T, warmup, steps, async () => {
          await saeTrainStep({ lm, set, opt, config }, acts, 1e-3, (_h, _i, val, kk) => val.length / kk);
        });
        return { ...figures, n_saes: views, sae_params: views * (2 * c.dModel * width + width + c.dModel) };
      } finally {
        tf.dispose(Object.values(acts));
        opt.dispose();
        full.dispose();
      }
    };
    const one = await saePhase(1);
    const pair = await saePhase(2);
    return {
      model: {
        ...c,
        params: lm.numParams(),
        weights: 'random (real shapes)',
        init_seconds: Math.round(initSeconds * 10) / 10,
      },
      window: [B, T],
      sae: { width, k },
      lm_forward: { ...lmPhase, to_hook: last },
      sae_one: one,
      sae_pair: pair,
      note: 'lm_forward and the SAE steps run on separate threads when training (the activation worker), so a run goes at about the slower of the two',
    };
  } finally {
    lm.dispose();
  }
}
