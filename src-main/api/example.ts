/**
 * The example project (issue 14): the quick reproduction's runs, shipped as an ordinary run bundle under
 * resources/example-project/, so a new user's first screen has LM, SAE and SCALAR results to explore. It is
 * imported by `importBundle`, exactly as a user's bundle (same checks, same skipping of runs already present);
 * nothing imports it without the user asking (the Runs page offers it, the menu and `scalar bundle import
 * --example` do it on request).
 */
import fs from 'node:fs';
import type { ExampleProject } from '../../src-shared/api.ts';
import { isWithoutWeights, type BundleManifest } from '../../src-shared/bundle.ts';
import { exampleProjectFile } from '../resources.ts';
import { importBundle, readBundleManifest, type ImportResult } from '../store/bundle.ts';
import { fileRoleOf } from '../store/bundleFiles.ts';
import type { Store } from '../store/index.ts';

const NONE: ExampleProject = {
  available: false,
  bytes: 0,
  runs: 0,
  kinds: {},
  seeds: [],
  preset: null,
  reproduceRunId: null,
  lm: null,
  withWeights: 0,
  withoutWeights: 0,
  present: 0,
  createdAt: null,
};

/**
 * The reproduction the example is about: the reproduce run the bundle was made from (requested on export). A
 * reproduction that reused steps of another one brings that one along as a dependency; it is not the report.
 */
function reproduceRunOf(manifest: BundleManifest): BundleManifest['runs'][number] | null {
  const reproductions = manifest.runs.filter((r) => r.kind === 'reproduce');
  return (
    reproductions.find((r) => manifest.lineage.requested.includes(r.id)) ??
    [...reproductions].sort(
      (a, b) => ((b.config as { seeds?: number }).seeds ?? 0) - ((a.config as { seeds?: number }).seeds ?? 0),
    )[0] ??
    null
  );
}

/** What a bundle holds, in the words the offer uses; `present` counts its runs this store already has. */
export function describeExample(manifest: BundleManifest, bytes: number, store: Store): ExampleProject {
  const kinds: Record<string, number> = {};
  // Runs whose weights (or SCALAR tensors) are in the bundle: the ones latents and comparisons can use.
  const carriers = new Set(
    manifest.files
      .map((f) => /^runs\/([^/]+)\/files\/(.+)$/.exec(f.path))
      .filter((m): m is RegExpExecArray => m !== null && fileRoleOf(m[2]) === 'weights')
      .map((m) => m[1]),
  );
  for (const r of manifest.runs) kinds[r.kind] = (kinds[r.kind] ?? 0) + 1;
  const reproduce = reproduceRunOf(manifest);
  const config = (reproduce?.config ?? {}) as { preset?: unknown; lm?: unknown };
  const seeds = [
    ...new Set(manifest.runs.filter((r) => r.kind === 'sae' && r.seed !== null).map((r) => r.seed!)),
  ];
  return {
    available: true,
    bytes,
    runs: manifest.runs.length,
    kinds,
    seeds: seeds.sort((a, b) => a - b),
    preset: typeof config.preset === 'string' ? config.preset : null,
    reproduceRunId: reproduce?.id ?? null,
    lm: typeof config.lm === 'string' ? config.lm : (manifest.lineage.external[0]?.ref ?? null),
    withWeights: carriers.size,
    withoutWeights: manifest.runs.filter((r) => isWithoutWeights(r)).length,
    present: manifest.runs.filter((r) => store.getRun(r.id) !== undefined).length,
    createdAt: manifest.createdAt,
  };
}

export async function exampleInfo(store: Store, file = exampleProjectFile()): Promise<ExampleProject> {
  if (!fs.existsSync(file)) return NONE;
  return describeExample(await readBundleManifest(file), fs.statSync(file).size, store);
}

/** Imports the example bundle; says which run holds the reproduction report (to open it next). */
export async function importExample(
  store: Store,
  file = exampleProjectFile(),
): Promise<ImportResult & { reproduceRunId: string | null }> {
  if (!fs.existsSync(file))
    throw new Error(`this installation ships no example project (${file} is missing)`);
  const manifest = await readBundleManifest(file);
  const result = await importBundle(store, file);
  return { ...result, reproduceRunId: reproduceRunOf(manifest)?.id ?? null };
}
