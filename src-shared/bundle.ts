/**
 * Run bundles: one zip that carries runs from one data dir to another (`scalar bundle export` / `import`).
 *
 *   manifest.json                        this schema (first entry of the archive)
 *   runs/<id>/tables/<table>.json        the run's rows of every run-owned table (BundleTable), `runs` included
 *   runs/<id>/tables/<table>.csv         the same rows as CSV, for spreadsheets and pandas (not read on import)
 *   runs/<id>/files/<path>               every file of the run's artifact folder (safetensors weights, SAELens
 *                                        folders `saes/<hook>/cfg.json` + `sae_weights.safetensors`, KL tensors)
 *
 * Every entry except manifest.json is listed in `files` with its sha256 and size; an importer refuses a bundle
 * with missing, extra or altered entries.
 */
import { z } from 'zod';

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
