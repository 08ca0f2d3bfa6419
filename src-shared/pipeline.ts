/** The whole-paper pipeline (issue: SCALAR pipeline): which SAEs are trained and compared, and the presets. */
import { z } from 'zod';
import { SAE_PRESETS, type SaeArch, type SaeSchedule, type SaeSetup } from './sae.ts';
import type { ScalarPresetName } from './scalar.ts';

export const PipelineConfigSchema = z.object({
  preset: z.enum(['quick', 'paper-toy']),
  /** The language model (default: the bundled one). */
  lm: z.string(),
  /** Seeds per architecture (each trains its own SAEs): with several, comparisons get mean ± sd. */
  seeds: z.number().int().min(1).default(1),
  seed: z.number().int().nonnegative().default(0),
  corpus: z.string().default('builtin:brown'),
});
export type PipelineConfig = z.infer<typeof PipelineConfigSchema>;

/** A pipeline as the New run form and sweeps describe it (not a worker job: it orchestrates jobs). */
export const PipelineJobSchema = z.object({ kind: z.literal('pipeline'), config: PipelineConfigSchema });
export type PipelineJob = z.infer<typeof PipelineJobSchema>;

/** The paper's comparisons: fflayer TopK vs JSAE; ffblock and tblock TopK vs Staircase (TopK is the baseline). */
export const PIPELINE_MATRIX: { setup: SaeSetup; archs: SaeArch[] }[] = [
  { setup: 'fflayer', archs: ['topk', 'jsae'] },
  { setup: 'ffblock', archs: ['topk', 'staircase'] },
  { setup: 'tblock', archs: ['topk', 'staircase'] },
];

export const PIPELINE_PRESETS: Record<
  PipelineConfig['preset'],
  { sae: SaeSchedule; scalar: ScalarPresetName }
> = {
  /** Minutes on two cores: short SAE schedules, the quick SCALAR windows, the paper's edge grid. */
  quick: {
    sae: { ...SAE_PRESETS.quick, steps: 400, batchSize: 16, warmupSteps: 40, evalEvery: 400, evalBatches: 2 },
    scalar: 'quick',
  },
  /** The paper's SAE schedule and SCALAR settings on the toy model (hours on two cores). */
  'paper-toy': { sae: SAE_PRESETS.paper, scalar: 'paper' },
};
