/**
 * Finished runs of exactly the jobs a reproduction's steps submit (hand-made by compare.helpers: real per-token KL
 * tables, no training), so `runReproduce` reuses them all and writes its report in seconds. Staircase and JSAE
 * decay faster than TopK with the seed (sparser, with a seed-to-seed spread).
 */
import { reproduceSteps } from '../../src-main/jobs/reproduce.ts';
import type { Store } from '../../src-main/store/index.ts';
import { withEvalProtocol } from '../../src-shared/evalProtocol.ts';
import type { ReproduceConfig } from '../../src-shared/reproduce.ts';
import { seedSaeRun, seedScalarRun } from './compare.helpers.ts';

export function seedReproductionRuns(store: Store, config: ReproduceConfig, seeds: number[]): void {
  const children: Record<string, string> = {};
  for (const step of reproduceSteps(config)) {
    const [kind, setup, arch, s] = step.key.split(':');
    const seed = Number(s);
    if (!seeds.includes(seed)) continue;
    // Stored as the job manager stores a submission: with the evaluation protocol filled in.
    const spec = withEvalProtocol(step.spec(children));
    children[step.key] =
      kind === 'sae'
        ? seedSaeRun(store, arch, seed, { config: spec }).id
        : seedScalarRun(
            store,
            store.requireRun(children[`sae:${setup}:${arch}:${seed}`]),
            seed,
            arch === 'topk' ? 1 + 0.05 * seed : 1.3 + 0.2 * seed,
            { config: spec, setup },
          ).id;
  }
}
