/**
 * A training schedule in words, with where each number came from (an option, the preset, or the preset rescaled
 * to a shorter --steps): what `scalar train-lm` / `train-sae` print before they start and the New run forms show,
 * so nobody has to guess that --steps also moved the warmup and the evaluation interval.
 */
import { describeEvalProtocol, evalProtocolOf } from './evalProtocol.ts';

export interface ScheduleSource {
  steps: 'option' | 'preset';
  warmup: 'option' | 'preset' | 'rescaled';
  evalEvery: 'option' | 'preset' | 'rescaled';
  /** About how many evaluations the automatic interval aims for. */
  evals: number;
  presetWarmup: number;
  presetEvalEvery: number;
}

interface ScheduleLike {
  steps: number;
  warmupSteps: number;
  evalEvery: number;
  lr: number;
  minLr: number;
  batchSize: number;
  seqLen?: number;
}

const sci = (x: number) => (x >= 1e-3 ? String(x) : x.toExponential(0));

export function describeSchedule(
  s: ScheduleLike,
  source: ScheduleSource,
  evaluation: { protocol: string; valTokens?: number | null; evalTokens?: number },
): string {
  const why = {
    option: 'given',
    preset: 'preset',
  } as const;
  const warmup =
    source.warmup === 'rescaled' ? `min(preset ${source.presetWarmup}, 10 % of --steps)` : why[source.warmup];
  const every =
    source.evalEvery === 'rescaled'
      ? `about ${source.evals} evaluations, at most the preset's ${source.presetEvalEvery}`
      : why[source.evalEvery];
  const window = s.seqLen !== undefined ? `${s.seqLen}` : 'the LM context';
  return [
    `${s.steps} steps (${why[source.steps]})`,
    `warmup ${s.warmupSteps} (${warmup})`,
    `evaluate every ${s.evalEvery} (${every})`,
    `lr ${sci(s.lr)} → ${sci(s.minLr)} cosine`,
    `batch ${s.batchSize} × ${window} tokens`,
    `evaluation ${describeEvalProtocol(evalProtocolOf({ evaluation }))}`,
  ].join('; ');
}
