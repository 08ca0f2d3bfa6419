/**
 * Run bundles: one zip that carries runs from one data dir to another (`scalar bundle export` / `import`).
 *
 *   manifest.json                        this schema (first entry of the archive)
 *   runs/<id>/tables/<table>.json        the run's rows of every run-owned table (BundleTable), `runs` included
 *   runs/<id>/tables/<table>.csv         the same rows as CSV, for spreadsheets and pandas (not read on import)
 *   runs/<id>/files/<path>               the files of the run's artifact folder (safetensors weights, SAELens
 *                                        folders `saes/<hook>/cfg.json` + `sae_weights.safetensors`, KL tensors)
 *                                        that travel; the others are listed in the run's `filesLeftOut`
 *
 * Every entry except manifest.json is listed in `files` with its sha256 and size; an importer refuses a bundle
 * with missing, extra or altered entries. A run's `filesLeftOut` names (with hash and size) the files of its
 * folder that did not travel: the resume state of a completed run (never needed once it finished) and, when
 * exported with `--weights none` or without it in `--weights ID,...`, its weights and tensors.
 */
import { z } from 'zod';

/**
 * Why a file of a run's folder stayed out of a bundle: `resume` — it is the resume state of a completed run
 * (a training checkpoint or a SCALAR pair checkpoint: nothing reads it once the run finished); `weights` — the
 * run travelled without its weights, so none of its tensors did (LM / SAE parameters, SCALAR's per-token KL,
 * SAELens copies, edge scores, an unfinished run's resume state), which latent statistics, SCALAR on it,
 * resume and paired comparisons need; `exports` — a copy written for other tools (SAELens folders, SCALAR's full
 * edge-score matrices; the kept top edges travel as rows), left out by `--without-exports`.
 */
export const LEFT_OUT_ROLES = ['resume', 'weights', 'exports'] as const;
export type LeftOutRole = (typeof LEFT_OUT_ROLES)[number];

export const LeftOutFileSchema = z.object({
  /** Path inside the run's artifact folder, '/'-separated. */
  path: z.string().min(1),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  role: z.enum(LEFT_OUT_ROLES),
});
export type LeftOutFile = z.infer<typeof LeftOutFileSchema>;

export const BUNDLE_SCHEMA_VERSION = 1;
export const BUNDLE_MANIFEST_FILE = 'manifest.json';

export const BundleRunSchema = z.object({
  id: z.string(),
  kind: z.string(),
  name: z.string(),
  parentId: z.string().nullable(),
  status: z.string(),
  seed: z.number().nullable(),
  backend: z.string().nullable(),
  config: z.unknown(),
  summary: z.unknown(),
  error: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  wallSeconds: z.number().nullable(),
  /** The app version that created the run (not the one that wrote the bundle). */
  appVersion: z.string().nullable(),
  /** Files of the run's folder that are not in the bundle (absent in bundles written before this field). */
  filesLeftOut: z.array(LeftOutFileSchema).default([]),
  /** Set when the bundle carries only each SCALAR pair's top `keptEdges` edges (`--max-edges`). */
  keptEdges: z.number().int().nonnegative().optional(),
});
export type BundleRun = z.infer<typeof BundleRunSchema>;

/** Why one run needs another: its parent_id, or the LM / SAE run named in its config. */
export const BUNDLE_LINK_KINDS = ['parent', 'lm', 'sae'] as const;

export const BundleLineageSchema = z.object({
  /** The runs asked for on export. */
  requested: z.array(z.string()),
  /** The runs added by --with-deps (ancestors, the LM / SAE runs they were built on, pipeline children). */
  dependencies: z.array(z.string()),
  /** Run-to-run dependencies of the bundled runs; a `dependsOn` outside the bundle must exist where it lands. */
  links: z.array(z.object({ runId: z.string(), dependsOn: z.string(), via: z.enum(BUNDLE_LINK_KINDS) })),
  /** References that are not runs: `resources:<name>` models shipped with the app, model folders. */
  external: z.array(z.object({ runId: z.string(), ref: z.string(), via: z.string() })),
});
export type BundleLineage = z.infer<typeof BundleLineageSchema>;

export const SHA256_HEX = /^[0-9a-f]{64}$/;

export const BundleFileSchema = z.object({
  /** Entry name in the zip, '/'-separated, relative. */
  path: z.string().min(1),
  sha256: z.string().regex(SHA256_HEX),
  bytes: z.number().int().nonnegative(),
});
export type BundleFile = z.infer<typeof BundleFileSchema>;

export const BundleManifestSchema = z.object({
  bundleSchemaVersion: z.literal(BUNDLE_SCHEMA_VERSION),
  appVersion: z.string(),
  createdAt: z.string(),
  /** `PRAGMA user_version` of the database the rows came from. */
  dbSchemaVersion: z.number().int().nonnegative(),
  runs: z.array(BundleRunSchema).min(1),
  lineage: BundleLineageSchema,
  files: z.array(BundleFileSchema),
  /** What the exporter noticed and carried anyway (e.g. an artifact rewritten after it was recorded). */
  warnings: z.array(z.string()).default([]),
});
export type BundleManifest = z.infer<typeof BundleManifestSchema>;

/**
 * A table file (`runs/<id>/tables/<table>.json`): the rows of one table that belong to one run, every column
 * of the source database. Cells are JSON numbers, strings and null, with two tagged forms JSON lacks:
 * `{"$num": "Infinity" | "-Infinity" | "NaN"}` and `{"$b64": "..."}` (BLOB).
 */
export type BundleCell =
  null | number | string | { $num: 'Infinity' | '-Infinity' | 'NaN' } | { $b64: string };

export interface BundleTable {
  table: string;
  columns: string[];
  rows: BundleCell[][];
}

export const bundleRunDir = (runId: string) => `runs/${runId}`;
export const bundleTablePath = (runId: string, table: string, ext: 'json' | 'csv') =>
  `runs/${runId}/tables/${table}.${ext}`;
export const bundleFilePath = (runId: string, rel: string) => `runs/${runId}/files/${rel}`;

/** Whether a run came from a bundle without its weights (its records only): what computes on it cannot run. */
export function isWithoutWeights(run: { filesLeftOut?: readonly { role: LeftOutRole }[] | null }): boolean {
  return (run.filesLeftOut ?? []).some((f) => f.role === 'weights');
}

const KIND_LABEL: Record<string, string> = { lm: 'LM', sae: 'SAE', scalar: 'SCALAR' };

/**
 * The one sentence every page and command gives when it needs a run's weights and the run has none, e.g.
 * withoutWeightsMessage(run, 'its latent statistics cannot be computed').
 */
export function withoutWeightsMessage(run: { id: string; kind: string }, consequence: string): string {
  const what =
    run.kind === 'scalar' ? 'its weights (its per-token KL and edge-score tensors)' : 'its weights';
  return (
    `${KIND_LABEL[run.kind] ?? run.kind} run ${run.id} was imported without ${what}, so ${consequence}; ` +
    `its bundle carried its records only (import a bundle of it exported with its weights to do this)`
  );
}
