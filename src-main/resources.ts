/**
 * Files shipped with the app: bundled models (each a model folder with model.safetensors, config.json and the
 * training record training.json). `resources:<name>` refers to one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BUNDLED_PREFIX = 'resources:';
export const TRAINING_RECORD_FILE = 'training.json';

export function resourcesDir(): string {
  const packaged = (process as { resourcesPath?: string }).resourcesPath;
  if (packaged && fs.existsSync(path.join(packaged, 'models'))) return packaged;
  // From sources this module is src-main/resources.ts; built, it is a chunk in out/main/ (one level deeper).
  const fromSources = fileURLToPath(new URL('../resources/', import.meta.url));
  const fromBuild = fileURLToPath(new URL('../../resources/', import.meta.url));
  return !fs.existsSync(fromSources) && fs.existsSync(fromBuild) ? fromBuild : fromSources;
}

export function bundledModelsDir(): string {
  return path.join(resourcesDir(), 'models');
}

export interface BundledModel {
  name: string;
  dir: string;
  config: Record<string, unknown>;
  record: Record<string, unknown> | null;
}

export function listBundledModels(): BundledModel[] {
  const root = bundledModelsDir();
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(root, d.name, 'config.json')))
    .map((d) => {
      const dir = path.join(root, d.name);
      const recordPath = path.join(dir, TRAINING_RECORD_FILE);
      return {
        name: d.name,
        dir,
        config: JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')),
        record: fs.existsSync(recordPath) ? JSON.parse(fs.readFileSync(recordPath, 'utf8')) : null,
      };
    });
}

/**
 * The example project: a run bundle of the quick 3-seed reproduction (resources/example-project/, made by
 * scripts/make-example-project.sh), offered on an empty data dir and imported with the ordinary bundle import.
 */
export const EXAMPLE_BUNDLE_FILE = 'quick-reproduction.zip';

export function exampleProjectFile(): string {
  return path.join(resourcesDir(), 'example-project', EXAMPLE_BUNDLE_FILE);
}
