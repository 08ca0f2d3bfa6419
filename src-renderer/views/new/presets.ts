/** How presets read in the forms: model size, schedule, and what a sweep's runs are called. */
import type { GptConfig } from '../../../src-shared/lm.ts';
import { LM_PRESETS, type LmPresetName } from '../../../src-shared/lm.ts';
import { SAE_PRESET_SAES, SAE_PRESETS, type SaePresetName } from '../../../src-shared/sae.ts';
import { formatCount } from '../../lib/format.ts';

/** Parameters of the toy GPT (tied embeddings; DyT adds one α per block): 216,448 for ascii-64x4. */
export function gptParams(m: GptConfig): number {
  const d = m.dModel;
  const block =
    2 * d + // ln1
    3 * d * d +
    3 * d + // qkv
    d * d +
    d + // attention out
    (m.norm2 === 'dyt' ? 2 * d + 1 : 2 * d) +
    d * m.dMlp +
    m.dMlp +
    m.dMlp * d +
    d; // mlp
  return m.vocabSize * d + m.contextLength * d + m.nLayer * block + 2 * d;
}

export function lmPresetSummary(name: LmPresetName): { model: string; schedule: string } {
  const { model, schedule } = LM_PRESETS[name];
  return {
    model:
      `${formatCount(gptParams(model))} params · ${model.nLayer} layers × d ${model.dModel}, ${model.nHead} heads, ` +
      `context ${model.contextLength}${model.norm2 === 'dyt' ? ', DyT' : ''}`,
    schedule: `${schedule.steps.toLocaleString('en-US')} steps of ${schedule.batchSize} × ${schedule.seqLen} characters`,
  };
}

export function saePresetSummary(name: SaePresetName): string {
  const s = SAE_PRESETS[name];
  const n = (x: number) => x.toLocaleString('en-US');
  const windows = s.seqLen !== undefined ? `${s.batchSize} × ${s.seqLen} tokens` : `${s.batchSize} windows`;
  const micro = (s.gradAccum ?? 1) > 1 ? ` in ${s.gradAccum} micro-batches` : '';
  const schedule = `${n(s.steps)} steps of ${windows}${micro}, warmup ${s.warmupSteps}, lr ${s.lr} → ${s.minLr}`;
  const sae = SAE_PRESET_SAES[name];
  if (!sae) return schedule;
  // GPT-2 presets also set the SAEs, the blocks and the activation stream.
  return (
    `${schedule} · ${sae.setup} blocks ${sae.layers?.join(', ')}, F ${n(sae.width)}, k ${sae.k}` +
    (sae.stream ? ` · streamed through a ${n(sae.stream.bufferTokens)}-token buffer` : '')
  );
}

/** "0.0012" rather than "0.0012000000000000001"; λ as written in run names. */
export function formatLambda(v: number): string {
  return String(Number(v.toPrecision(6)));
}
