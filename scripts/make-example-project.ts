/**
 * Rebuilds the example project (resources/example-project/quick-reproduction.zip) from a data dir that holds a
 * completed quick reproduction (`scalar reproduce --preset quick --seeds 3`):
 *
 *   npm run example:make -- --data-dir D [--run REPRODUCE_RUN_ID] [--out FILE.zip]
 *      [--weights tblock:topk,tblock:staircase] [--latents tblock:topk] [--max-edges 1024]
 *
 * D is only read: its database is copied with SQLite's online backup into a temporary data dir whose run folders
 * link to D's, and everything below happens there. Then, with the app's own code:
 *   1. latent statistics (the Api's `latents.compute`, as the Latents page's button) for the first seed's
 *      SAE runs of the cells named by --latents (setup:arch; default tblock:topk), so their latent pages and the
 *      circuit explorer's latent panels work out of the box (the others' can be computed where weights travel);
 *   2. one bundle (`exportBundle`, as `scalar bundle export`) of the reproduce run and those latents runs, with
 *      everything they were built on (--with-deps: the SAE and SCALAR runs of every seed). Weights travel only
 *      for the first seed's SAE and SCALAR runs of the cells named by --weights (default tblock:topk and
 *      tblock:staircase: the paper's Table 3, TopK vs Staircase); no exports for other tools (SAELens folders,
 *      full edge-score matrices, CSV copies), no resume state, and each SCALAR pair's top --max-edges kept edges
 *      (of 65,536): that keeps the example a few MB. The bundled LM (resources:…) is referenced, not copied.
 * The bundle's size, run counts and what was left out are printed (resources/example-project/README.md).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { APP_VERSION, ScalarService } from '../src-main/api/service.ts';
import { REPRODUCE_MATRIX } from '../src-shared/reproduce.ts';
import { exampleProjectFile } from '../src-main/resources.ts';
import { exportBundle } from '../src-main/store/bundle.ts';
import type { RunRecord } from '../src-main/store/index.ts';

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    run: { type: 'string' },
    out: { type: 'string' },
    weights: { type: 'string', default: 'tblock:topk,tblock:staircase' },
    latents: { type: 'string', default: 'tblock:topk' },
    'max-edges': { type: 'string', default: '1024' },
  },
});
if (!values['data-dir']) {
  console.error('usage: npm run example:make -- --data-dir D [--run REPRODUCE_RUN_ID] [--out FILE.zip]');
  process.exit(2);
}
const source = path.resolve(values['data-dir']);
const out = path.resolve(values.out ?? exampleProjectFile());
const cells = (list: string) => list.split(',').filter(Boolean);
const weightsCells = cells(values.weights!);
const latentsCells = cells(values.latents!);
const maxEdges = Number(values['max-edges']);

// A snapshot of the source data dir, so nothing is written there (not even a migration).
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-example-'));
const db = new Database(path.join(source, 'scalar.db'), { readonly: true, fileMustExist: true });
await db.backup(path.join(work, 'scalar.db'));
db.close();
// Each run's folder is linked (read there); folders of runs made here (latents) are real ones in `work`.
fs.mkdirSync(path.join(work, 'artifacts'));
for (const id of fs.readdirSync(path.join(source, 'artifacts')))
  fs.symlinkSync(path.join(source, 'artifacts', id), path.join(work, 'artifacts', id), 'dir');

const service = new ScalarService({ dataDir: work, mode: 'cli' });
try {
  const store = service.store;
  const reproduce: RunRecord | undefined = values.run
    ? store.requireRun(values.run)
    : store.listRuns({ kind: 'reproduce', status: 'completed' })[0];
  if (!reproduce || reproduce.kind !== 'reproduce' || reproduce.status !== 'completed')
    throw new Error(`no completed reproduce run in ${source} (give --run ID)`);
  const children = (reproduce.progress?.children ?? {}) as Record<string, string>;
  // Step keys are `<sae|scalar>:<setup>:<arch>:<seed index>` (jobs/reproduce.ts).
  const headline = REPRODUCE_MATRIX.filter((c) => !c.variant);
  const child = (kind: string, c: (typeof headline)[number]) => children[`${kind}:${c.setup}:${c.arch}:0`];
  const headlineSaes = headline
    .filter((c) => latentsCells.includes(`${c.setup}:${c.arch}`))
    .map((c) => child('sae', c))
    .filter(Boolean);
  const weighted = headline
    .filter((c) => weightsCells.includes(`${c.setup}:${c.arch}`))
    .flatMap((c) => [child('sae', c), child('scalar', c)])
    .filter(Boolean);

  const latents: string[] = [];
  for (const sae of headlineSaes) {
    const job = await service.call('latents.compute', { run: sae });
    const done = job.status === 'completed' ? store.requireRun(job.id) : await service.jobs.wait(job.id);
    if (done.status !== 'completed')
      throw new Error(`latent statistics of ${sae}: ${done.status} ${done.error}`);
    console.error(`latent statistics of ${sae}: ${done.id}`);
    latents.push(done.id);
  }

  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.rmSync(out, { force: true });
  const result = await exportBundle(store, [reproduce.id, ...latents], out, {
    withDeps: true,
    weights: weighted,
    withoutExports: true,
    maxEdges,
    appVersion: APP_VERSION,
  });
  const kinds: Record<string, number> = {};
  for (const id of result.runs) {
    const k = store.requireRun(id).kind;
    kinds[k] = (kinds[k] ?? 0) + 1;
  }
  console.log(
    JSON.stringify(
      {
        file: result.file,
        bytes: result.bytes,
        reproduce: reproduce.id,
        runs: result.runs.length,
        kinds,
        weights: weighted,
        maxEdges,
        latents,
        leftOut: result.leftOut,
        warnings: result.warnings,
      },
      null,
      2,
    ),
  );
} finally {
  await service.close();
  fs.rmSync(work, { recursive: true, force: true });
}
