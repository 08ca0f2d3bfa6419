/** The "Train quick LM" job: the `quick` preset exactly as the CLI's `scalar train-lm --preset quick` runs it. */
import type { JobSpec } from '../../src-shared/jobs.ts';
import { LM_PRESETS, LmTrainConfigSchema } from '../../src-shared/lm.ts';

export const QUICK_PRESET = LM_PRESETS.quick;

export function quickLmJob(seed = 0): { spec: JobSpec; name: string } {
  const config = LmTrainConfigSchema.parse({
    preset: 'quick',
    model: QUICK_PRESET.model,
    schedule: QUICK_PRESET.schedule,
    seed,
  });
  return { spec: { kind: 'train-lm', config }, name: `quick s${seed}` };
}

/** One line describing the preset: what the button will train. */
export function quickPresetSummary(): string {
  const { model, schedule } = QUICK_PRESET;
  return (
    `${model.nLayer} layers, d_model ${model.dModel}, ${model.nHead} heads, context ${model.contextLength}; ` +
    `${schedule.steps} steps of ${schedule.batchSize} × ${schedule.seqLen} characters of the Brown corpus`
  );
}
