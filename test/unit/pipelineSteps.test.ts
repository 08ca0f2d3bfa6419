/**
 * The pipeline's and the reproduction's SAEs are ×8 the LM's d_model (SPEC §4.5), whatever the LM: a 128-wide
 * model gets 1,024 latents, not the schema's 512 (found when the scale check on ascii-128x6 would have trained
 * ×4 SAEs).
 */
import { describe, expect, it } from 'vitest';
import { paperSaeWidth, saeTrainStep } from '../../src-main/jobs/pipelineSteps.ts';
import { reproduceSteps } from '../../src-main/jobs/reproduce.ts';
import { ReproduceConfigSchema, reproduceStepCount } from '../../src-shared/reproduce.ts';
import { SaeTrainConfigSchema } from '../../src-shared/sae.ts';

const widthOf = (spec: { config: unknown }) => (spec.config as { width: number }).width;

describe('pipeline steps: SAE width', () => {
  it('is 8 × d_model', () => {
    expect(paperSaeWidth(64)).toBe(512);
    expect(paperSaeWidth(128)).toBe(1024);
    expect(paperSaeWidth(768)).toBe(6144);
  });

  it('on the 64-wide toy model equals the schema default, so earlier runs are still reused', () => {
    const unstatedSpec = saeTrainStep(
      { preset: 'quick', lm: 'x', corpus: 'builtin:brown' },
      'fflayer',
      'topk',
      0,
    );
    const config = unstatedSpec.spec({}).config;
    expect(paperSaeWidth(64)).toBe(SaeTrainConfigSchema.parse(config).width);
    const stated = saeTrainStep(
      { preset: 'quick', lm: 'x', corpus: 'builtin:brown', width: 512 },
      'fflayer',
      'topk',
      0,
    );
    const unstated = saeTrainStep(
      { preset: 'quick', lm: 'x', corpus: 'builtin:brown' },
      'fflayer',
      'topk',
      0,
    );
    expect(stated.spec({})).toEqual(unstated.spec({}));
  });

  it('reaches every SAE step of a reproduction', () => {
    const config = ReproduceConfigSchema.parse({ preset: 'quick', lm: 'x', seeds: 2 });
    const sae = reproduceSteps(config, 1024).filter((s) => s.key.startsWith('sae:'));
    expect(sae.length).toBe(18);
    for (const s of sae) expect(widthOf(s.spec({}) as { config: unknown })).toBe(1024);
  });

  it('a reproduction runs SCALAR against the full circuit at fflayer only, and the form counts its steps right', () => {
    const config = ReproduceConfigSchema.parse({ preset: 'quick', lm: 'x', seeds: 3 });
    const steps = reproduceSteps(config);
    const circuit = steps.filter((s) => s.key.startsWith('scalar-circuit:')).map((s) => s.key);
    expect(circuit).toEqual(
      [0, 1, 2].flatMap((seed) => [
        `scalar-circuit:fflayer:topk:${seed}`,
        `scalar-circuit:fflayer:jsae:${seed}`,
      ]),
    );
    // 9 SAEs + 6 SCALAR + 2 against the circuit per seed.
    expect(steps.length).toBe(3 * 17);
    for (const c of [
      config,
      { ...config, variants: false },
      { ...config, setups: ['tblock' as const], seeds: 2 },
    ])
      expect(reproduceStepCount(c)).toBe(reproduceSteps(c).length);
    const sae = steps.find((s) => s.key === 'sae:fflayer:jsae:0')!;
    const run = { [sae.key]: 'sae-run' };
    const spec = (k: string) =>
      steps.find((s) => s.key === k)!.spec(run).config as { target: string; sae: string };
    expect(spec('scalar-circuit:fflayer:jsae:0')).toMatchObject({ target: 'circuit', sae: 'sae-run' });
    expect(spec('scalar:fflayer:jsae:0')).toMatchObject({ target: 'model', sae: 'sae-run' });
  });
});
