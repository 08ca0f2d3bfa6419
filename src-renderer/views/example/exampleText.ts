/** The words the example-project offer uses, from what the bundle's manifest says (pure, unit-tested). */
import type { ExampleProject } from '../../../src-shared/api.ts';
import { formatBytes } from '../../lib/format.ts';

const KIND_NAMES: Record<string, [string, string]> = {
  lm: ['LM run', 'LM runs'],
  sae: ['SAE run', 'SAE runs'],
  scalar: ['SCALAR run', 'SCALAR runs'],
  latents: ['latent-statistics run', 'latent-statistics runs'],
  reproduce: ['reproduction', 'reproductions'],
  pipeline: ['pipeline', 'pipelines'],
};
const KIND_ORDER = ['lm', 'sae', 'scalar', 'latents', 'reproduce', 'pipeline'];

/** "27 SAE runs, 18 SCALAR runs, 1 reproduction" (kinds in pipeline order, unknown kinds last). */
export function kindCounts(kinds: Record<string, number>): string {
  const order = [
    ...KIND_ORDER,
    ...Object.keys(kinds)
      .filter((k) => !KIND_ORDER.includes(k))
      .sort(),
  ];
  return order
    .filter((k) => (kinds[k] ?? 0) > 0)
    .map((k) => {
      const [one, many] = KIND_NAMES[k] ?? [`${k} run`, `${k} runs`];
      return `${kinds[k]} ${kinds[k] === 1 ? one : many}`;
    })
    .join(', ');
}

/** The model name of `resources:<name>` (or the reference as it is). */
export function modelName(ref: string | null): string {
  return ref ? ref.replace(/^resources:/, '') : 'its language model';
}

/** One line: what the example is. */
export function exampleHeadline(info: ExampleProject): string {
  const seeds = info.seeds.length;
  const preset = info.preset ? `${info.preset} ` : '';
  return `The paper's ${preset}reproduction over ${seeds} seed${seeds === 1 ? '' : 's'}: ${info.runs} completed runs (${kindCounts(info.kinds)}) on the bundled model ${modelName(info.lm)}, ${formatBytes(info.bytes)}.`;
}

/** Which runs can be computed on, and which are records only. */
export function exampleWeightsNote(info: ExampleProject): string {
  if (info.withoutWeights === 0) return 'Every run carries its weights.';
  const carry =
    info.withWeights === 0
      ? 'No run carries its weights'
      : `${info.withWeights} run${info.withWeights === 1 ? ' carries its' : 's carry their'} weights, so latent statistics, latent matching and paired comparisons can be computed on ${info.withWeights === 1 ? 'it' : 'them'}`;
  return `${carry}; ${info.withoutWeights} ${info.withoutWeights === 1 ? 'is' : 'are'} records only (metrics, curves, kept edges, scores), marked “no weights”.`;
}

/** After an import: what happened, including runs that were already there. */
export function importOutcome(r: { imported: string[]; skipped: { id: string; reason: string }[] }): string {
  const n = r.imported.length;
  const m = r.skipped.length;
  if (n === 0 && m > 0)
    return `The example project is already here: all ${m} of its runs are in this data dir, nothing was imported.`;
  return `Imported the example project: ${n} run${n === 1 ? '' : 's'}${m ? ` (${m} already here, skipped)` : ''}.`;
}
