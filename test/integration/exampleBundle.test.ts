/**
 * The example project shipped in resources/example-project/ is a valid, small run bundle: its manifest checks,
 * every entry is listed with the right sha256 and size, it holds a completed 3-seed quick reproduction whose LM
 * is the bundled model (referenced, not copied), no resume state and no spreadsheet copies, and it stays under
 * its size ceiling. `scalar bundle import --example` imports it into an empty data dir and skips it the second
 * time.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isWithoutWeights, type BundleManifest } from '../../src-shared/bundle.ts';
import { exampleProjectFile, listBundledModels } from '../../src-main/resources.ts';
import { readBundleManifest } from '../../src-main/store/bundle.ts';
import { runCli } from './lmCli.helpers.ts';

/** The repo stays small: the example is a few MB (resources/example-project/README.md says how it is made). */
const SIZE_CEILING = 9 * 1024 * 1024;
const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

const file = exampleProjectFile();
let manifest: BundleManifest;
let tmp: string;

beforeAll(async () => {
  manifest = await readBundleManifest(file);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-example-bundle-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('resources/example-project', () => {
  it('is small', () => {
    expect(fs.statSync(file).size).toBeLessThanOrEqual(SIZE_CEILING);
  });

  it('lists exactly its entries, each with its sha256 and size', () => {
    const entries = unzipSync(fs.readFileSync(file));
    expect(Object.keys(entries).sort()).toEqual(
      ['manifest.json', ...manifest.files.map((f) => f.path)].sort(),
    );
    for (const f of manifest.files) {
      expect(sha(entries[f.path]), f.path).toBe(f.sha256);
      expect(entries[f.path].length, f.path).toBe(f.bytes);
    }
    // Shipping form: no resume state, no CSV copies of the tables.
    expect(manifest.files.filter((f) => /(state|done)\.safetensors$|\.csv$/.test(f.path))).toEqual([]);
  });

  it('holds a completed quick reproduction over ≥ 3 seeds on the bundled model', () => {
    expect(manifest.runs.every((r) => r.status === 'completed')).toBe(true);
    // The reproduction asked for (others may come along as the runs it reused steps from).
    const reproduce = manifest.runs.filter(
      (r) => r.kind === 'reproduce' && manifest.lineage.requested.includes(r.id),
    );
    expect(reproduce).toHaveLength(1);
    const config = reproduce[0].config as { preset: string; seeds: number; lm: string };
    expect(config.preset).toBe('quick');
    expect(config.seeds).toBeGreaterThanOrEqual(3);
    const claims = (reproduce[0].summary as { reproduction: { claims: unknown[] } }).reproduction.claims;
    expect(claims.length).toBeGreaterThan(3);
    const seeds = new Set(manifest.runs.filter((r) => r.kind === 'sae').map((r) => r.seed));
    expect(seeds.size).toBeGreaterThanOrEqual(3);
    for (const kind of ['sae', 'scalar', 'latents'])
      expect(
        manifest.runs.some((r) => r.kind === kind),
        kind,
      ).toBe(true);
    // The LM is a model shipped with the app: referenced, not in the bundle.
    const bundled = listBundledModels().map((m) => `resources:${m.name}`);
    expect(bundled).toContain(config.lm);
    expect(manifest.runs.some((r) => r.kind === 'lm')).toBe(false);
    // Some runs carry their weights (explorable and computable), the others are records only.
    const carried = manifest.runs.filter((r) => r.kind === 'sae' && !isWithoutWeights(r));
    expect(carried.length).toBeGreaterThan(0);
    for (const r of carried)
      expect(
        manifest.files.some((f) => f.path.startsWith(`runs/${r.id}/files/best/`)),
        r.id,
      ).toBe(true);
    expect(manifest.runs.some((r) => isWithoutWeights(r))).toBe(true);
  });

  it('imports with `scalar bundle import --example`, and skips every run the second time', async () => {
    const dataDir = path.join(tmp, 'data');
    const first = await runCli(['bundle', 'import', '--example', '--data-dir', dataDir, '--json']);
    expect(first.code, first.stderr).toBe(0);
    const reproduce = manifest.runs.find(
      (r) => r.kind === 'reproduce' && manifest.lineage.requested.includes(r.id),
    )!.id;
    expect(first.json).toMatchObject({ skipped: [], warnings: [], reproduceRunId: reproduce });
    expect((first.json as { imported: string[] }).imported).toHaveLength(manifest.runs.length);
    expect(first.stderr).toContain(`the reproduction report is run ${reproduce}`);
    const again = await runCli(['bundle', 'import', '--example', '--data-dir', dataDir, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect((again.json as { imported: string[] }).imported).toEqual([]);
    expect((again.json as { skipped: unknown[] }).skipped).toHaveLength(manifest.runs.length);
  });
});
