/**
 * Which language model a job uses: a completed LM run id, `resources:<name>` (a model shipped with the app),
 * or a model folder / model.safetensors path. Resolved on the main side (it needs the store) to a folder.
 * Likewise an SAE run id to its folder and training config.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BUNDLED_PREFIX, bundledModelsDir, listBundledModels } from '../resources.ts';
import type { JobSpec } from '../../src-shared/jobs.ts';
import { SaeImportConfigSchema, SaeTrainConfigSchema, type SaeStructure } from '../../src-shared/sae.ts';
import { readLmConfig } from '../engine/io/lmCheckpoint.ts';
import { inspectSaeLensSet } from '../engine/io/saelensImport.ts';
import { runArtifactsDir, type Store } from '../store/index.ts';
import { DEFAULT_SAE_EVAL_TOKENS, EVAL_PROTOCOL } from '../../src-shared/evalProtocol.ts';
import { formatIssues } from '../../src-shared/issues.ts';
import { flagOf } from '../../src-shared/jobBuilders.ts';
import { InputError } from '../userErrors.ts';
import { isWithoutWeights, withoutWeightsMessage } from '../../src-shared/bundle.ts';

export function defaultLmRef(): string | null {
  const bundled = listBundledModels();
  return bundled.length ? `${BUNDLED_PREFIX}${bundled[0].name}` : null;
}

export function resolveLmRef(ref: string, store: Store): string {
  if (ref.startsWith(BUNDLED_PREFIX)) {
    const dir = path.join(bundledModelsDir(), ref.slice(BUNDLED_PREFIX.length));
    if (!fs.existsSync(path.join(dir, 'config.json'))) {
      const names = listBundledModels().map((m) => BUNDLED_PREFIX + m.name);
      throw new InputError(`no bundled model '${ref}' (available: ${names.join(', ') || 'none'})`);
    }
    return dir;
  }
  const run = store.getRun(ref);
  if (run) {
    if (run.kind !== 'lm' || run.status !== 'completed')
      throw new InputError(`run ${ref} is a ${run.status} ${run.kind} run, not a completed LM run`);
    if (isWithoutWeights(run))
      throw new InputError(withoutWeightsMessage(run, 'it cannot be used as a language model here'));
    return path.join(runArtifactsDir(store.dataDir, ref), 'best');
  }
  const p = path.resolve(ref);
  const dir = p.endsWith('.safetensors') ? path.dirname(p) : p;
  if (fs.existsSync(path.join(dir, 'config.json'))) return p;
  throw new InputError(
    `cannot find language model '${ref}': give a completed LM run id, ${BUNDLED_PREFIX}<name>, or a folder with config.json + model.safetensors`,
  );
}

export function resolveSaeRun(runId: string, store: Store): { dir: string; config: SaeStructure } {
  const run = store.getRun(runId);
  if (!run) throw new InputError(`no SAE run '${runId}' in ${store.dataDir}`);
  if (run.kind !== 'sae' || run.status !== 'completed')
    throw new InputError(`run ${runId} is a ${run.status} ${run.kind} run, not a completed SAE run`);
  if (isWithoutWeights(run))
    throw new InputError(withoutWeightsMessage(run, 'its SAEs cannot be loaded here'));
  const spec = run.config as { kind?: string; config?: unknown };
  const config =
    spec.kind === 'import-sae'
      ? SaeImportConfigSchema.parse(spec.config)
      : SaeTrainConfigSchema.parse(spec.config);
  return { dir: runArtifactsDir(store.dataDir, runId), config };
}

/**
 * The job that imports the SAELens folders under `source` for language model `lm`: their architecture, setup,
 * width and k read from the folders' cfg.json and checked against the model (a clear error before any run exists).
 */
export function saeImportSpec(
  lm: string,
  source: string,
  store: Store,
  evaluation: { batchSize?: number; seqLen?: number; evalTokens?: number; corpus?: string } = {},
): Extract<JobSpec, { kind: 'import-sae' }> {
  const where = resolveLmRef(lm, store);
  let lmConfig;
  try {
    lmConfig = readLmConfig(where);
  } catch (err) {
    throw new InputError(`language model ${lm}: ${(err as Error).message}`);
  }
  let info;
  try {
    info = inspectSaeLensSet(path.resolve(source), lmConfig);
  } catch (err) {
    throw new InputError(`cannot import ${path.resolve(source)}: ${(err as Error).message}`);
  }
  const { arch, setup, width, k } = info;
  const { evalTokens, ...windows } = evaluation;
  const input = {
    ...windows,
    lm,
    source: path.resolve(source),
    arch,
    setup,
    width,
    k,
    evaluation: { protocol: EVAL_PROTOCOL, evalTokens: evalTokens ?? DEFAULT_SAE_EVAL_TOKENS },
  };
  const parsed = SaeImportConfigSchema.safeParse(input);
  if (!parsed.success)
    throw new InputError(
      formatIssues(parsed.error.issues, {
        schema: SaeImportConfigSchema,
        input,
        subject: (p) => `option --${flagOf(String(p[0] === 'evaluation' ? p[1] : p[0]))}`,
      }),
    );
  return { kind: 'import-sae', config: parsed.data };
}
