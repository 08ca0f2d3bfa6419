/** scalar bundle export / import: runs with their rows and artifact files as one checked zip. */
import { parseArgs } from 'node:util';
import { APP_VERSION } from '../../api/service.ts';
import { importExample } from '../../api/example.ts';
import { exportBundle, importBundle, isBundleError, parseWeightsChoice } from '../../store/bundle.ts';
import { isStoreError } from '../../store/index.ts';
import { GLOBAL_OPTIONS, openService, printJson, say, UsageError } from '../context.ts';

export const usage = `scalar bundle export RUN_ID... --out FILE.zip [--with-deps] [--weights all|none|RUN_ID,...]
                     [--without-exports] [--max-edges N]
       bundle import FILE.zip | --example   [--data-dir D] [--json]
  export      writes the runs (rows: config, metrics, curves, edges, labels...; files: weights, SAELens
              folders, KL tensors) into one zip with a manifest of sha256 hashes. --with-deps adds what the runs
              were built on (parent, LM and SAE runs; a pipeline's runs). Queued or running runs are refused.
              A completed run's resume state (state.safetensors, pair*/done.safetensors) never travels.
  --weights   which runs carry their weights and tensors (best/, *.safetensors, SAELens folders): all
              (default), none, or the runs named (comma-separated or repeated); the others travel with every
              row but no weights, and arrive marked "imported without its weights" (latent statistics, SCALAR
              on them, resume and comparisons that read per-token KL say so). Reports and records always travel.
  --without-exports  also leaves out the copies written for other tools: SAELens folders saes/ (the same
              weights as best/), SCALAR's full edge-score matrices (the kept top edges travel as rows) and the
              CSV copy of every table (the JSON one is what import reads).
  --max-edges N  carries each SCALAR pair's top N kept edges only (as a run evaluated with --keep-edges N
              stores them; the circuit explorer's budget slider then ends at N); the manifest says so per run.
  import      checks the bundle (manifest, hashes, safe names, dependencies) before anything is written, then
              adds its runs with their ids; runs already in the data dir are skipped.
  --example   imports the example project shipped with the app (resources/example-project/: the quick
              reproduction, 3 seeds) with the same import; the Runs page offers it on an empty data dir.`;

function maxEdgesOf(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`option --max-edges must be an integer ≥ 1 (got ${text})`);
  return n;
}

export async function bundleCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ...GLOBAL_OPTIONS,
      out: { type: 'string', short: 'o' },
      'with-deps': { type: 'boolean', default: false },
      weights: { type: 'string', multiple: true },
      'without-exports': { type: 'boolean', default: false },
      'max-edges': { type: 'string' },
      example: { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
  if (values.help) return (say(usage), 0);
  const [action, ...args] = positionals;
  if (action !== 'export' && action !== 'import') throw new UsageError("give 'export' or 'import'");
  if (action === 'export' && (args.length === 0 || !values.out))
    throw new UsageError('export needs at least one RUN_ID and --out FILE.zip');
  if (action === 'import' && (args.length !== (values.example ? 0 : 1) || values.out || values['with-deps']))
    throw new UsageError('import takes exactly one FILE.zip or --example (and no --out / --with-deps)');
  if (action === 'import' && (values.weights || values['without-exports'] || values['max-edges']))
    throw new UsageError('--weights, --without-exports and --max-edges are export options');
  if (action === 'export' && values.example) throw new UsageError('--example is an import option');

  const service = openService(values);
  try {
    if (action === 'export') {
      const result = await exportBundle(service.store, args, values.out!, {
        withDeps: values['with-deps'],
        weights: parseWeightsChoice(values.weights),
        withoutExports: values['without-exports'],
        maxEdges: values['max-edges'] === undefined ? undefined : maxEdgesOf(values['max-edges']),
        appVersion: APP_VERSION,
      });
      for (const w of result.warnings) say(`warning: ${w}`);
      say(
        `exported ${result.runs.length} run(s) to ${result.file} (${result.bytes} bytes): ${result.runs.join(', ')}`,
      );
      const what = {
        weights: 'weights',
        exports: 'exports for other tools',
        resume: 'resume state',
      } as const;
      for (const role of ['weights', 'exports', 'resume'] as const) {
        const l = result.leftOut[role];
        if (l.runs > 0)
          say(`left out the ${what[role]} of ${l.runs} run(s): ${l.files} file(s), ${l.bytes} bytes`);
      }
      if (values.json) printJson(result);
    } else {
      const result = values.example
        ? await importExample(service.store)
        : await importBundle(service.store, args[0]);
      for (const w of result.warnings) say(`warning: ${w}`);
      for (const s of result.skipped) say(`skipped ${s.id}: ${s.reason}`);
      say(
        `imported ${result.imported.length} run(s) into ${service.store.dataDir}${result.imported.length ? `: ${result.imported.join(', ')}` : ''}`,
      );
      if ('reproduceRunId' in result && result.reproduceRunId)
        say(
          `the reproduction report is run ${result.reproduceRunId}: in the app, Reproduce (#/reproduce?run=${result.reproduceRunId})`,
        );
      if (values.json) printJson(result);
    }
    return 0;
  } catch (err) {
    // Refusals are the user's to fix, not crashes: the reason only, exit 2.
    if (isBundleError(err) || isStoreError(err)) {
      say(`scalar bundle ${action}: ${err.message}`);
      return 2;
    }
    throw err;
  } finally {
    await service.close();
  }
}
