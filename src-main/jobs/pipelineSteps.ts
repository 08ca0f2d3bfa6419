/**
 * The steps `scalar pipeline` and `scalar reproduce` are made of: one SAE training and one SCALAR evaluation
 * per (setup, arch, seed), at a pipeline preset's schedule. Both commands build them here, so a reproduction
 * reuses a pipeline's finished runs (its steps are exactly the same jobs).
 */
import type { JobSpec } from '../../src-shared/jobs.ts';
import { PIPELINE_PRESETS, type PipelineConfig } from '../../src-shared/pipeline.ts';
import { SaeTrainConfigSchema, type SaeArch, type SaeSetup } from '../../src-shared/sae.ts';
import { SCALAR_PRESETS, ScalarEvalConfigSchema, type ScalarEvalConfig } from '../../src-shared/scalar.ts';

type ScalarTarget = ScalarEvalConfig['target'];

export interface PipelineStep {
  key: string;
  name: string;
  /** The job, given the run ids of the steps already done (a SCALAR step names its SAE run). */
  spec: (children: Record<string, string>) => JobSpec;
}

/**
 * What the steps take from a pipeline's or a reproduction's config, and the SAE width: the paper's SAEs are ×8
 * the LM's d_model (SPEC §4.5), so the caller, who can read the LM, states it (`paperSaeWidth`).
 */
type StepSource = Pick<PipelineConfig, 'preset' | 'lm' | 'corpus'> & { width?: number };

/** The paper's expansion factor: every compared SAE has 8 × d_model latents (512 on the 64-wide toy model). */
export const PAPER_EXPANSION = 8;
export const paperSaeWidth = (dModel: number) => PAPER_EXPANSION * dModel;

export const saeKey = (setup: string, arch: string, seed: number) => `sae:${setup}:${arch}:${seed}`;
export const scalarKey = (setup: string, arch: string, seed: number, target: ScalarTarget = 'model') =>
  `${target === 'circuit' ? 'scalar-circuit' : 'scalar'}:${setup}:${arch}:${seed}`;

export function saeTrainStep(c: StepSource, setup: SaeSetup, arch: SaeArch, seed: number): PipelineStep {
  return {
    key: saeKey(setup, arch, seed),
    name: `${arch} ${setup} s${seed}`,
    spec: () => ({
      kind: 'train-sae',
      config: SaeTrainConfigSchema.parse({
        preset: c.preset,
        lm: c.lm,
        arch,
        setup,
        ...(c.width !== undefined ? { width: c.width } : {}),
        schedule: PIPELINE_PRESETS[c.preset].sae,
        corpus: c.corpus,
        seed,
      }),
    }),
  };
}

/** `target`: SCALAR's KL against the full model (the default) or the full circuit (reconstruction not counted). */
export function scalarEvalStep(
  c: StepSource,
  setup: SaeSetup,
  arch: SaeArch,
  seed: number,
  target: ScalarTarget = 'model',
): PipelineStep {
  const scalar = PIPELINE_PRESETS[c.preset].scalar;
  return {
    key: scalarKey(setup, arch, seed, target),
    name: `SCALAR ${arch} ${setup} s${seed}${target === 'circuit' ? ' vs circuit' : ''}`,
    spec: (children) => ({
      kind: 'scalar',
      config: ScalarEvalConfigSchema.parse({
        ...SCALAR_PRESETS[scalar],
        preset: scalar,
        sae: children[saeKey(setup, arch, seed)],
        corpus: c.corpus,
        seed,
        target,
      }),
    }),
  };
}
