/** scalar bundle export / import: runs with their rows and artifact files as one checked zip. */
import { parseArgs } from 'node:util';
import { APP_VERSION } from '../../api/service.ts';
import { exportBundle, importBundle, isBundleError } from '../../store/bundle.ts';
import { isStoreError } from '../../store/index.ts';
import { GLOBAL_OPTIONS, openService, printJson, say, UsageError } from '../context.ts';

export const usage = `scalar bundle export RUN_ID... --out FILE.zip [--with-deps] | import FILE.zip   [--data-dir D] [--json]
  export      writes the runs (rows: config, metrics, curves, edges, labels...; files: weights, SAELens
              folders, KL tensors) into one zip with a manifest of sha256 hashes. --with-deps adds what the runs
              were built on (parent, LM and SAE runs; a pipeline's runs). Queued or running runs are refused.
  import      checks the bundle (manifest, hashes, safe names, dependencies) before anything is written, then
              adds its runs with their ids; runs already in the data dir are skipped.`;

export async function bundleCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ...GLOBAL_OPTIONS,
      out: { type: 'string', short: 'o' },
      'with-deps': { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
  if (values.help) return (say(usage), 0);
  const [action, ...args] = positionals;
  if (action !== 'export' && action !== 'import') throw new UsageError("give 'export' or 'import'");
  if (action === 'export' && (args.length === 0 || !values.out))
    throw new UsageError('export needs at least one RUN_ID and --out FILE.zip');
  if (action === 'import' && (args.length !== 1 || values.out || values['with-deps']))
    throw new UsageError('import takes exactly one FILE.zip (and no --out / --with-deps)');

  const service = openService(values);
  try {
    if (action === 'export') {
      const result = await exportBundle(service.store, args, values.out!, {
        withDeps: values['with-deps'],
        appVersion: APP_VERSION,
      });
      for (const w of result.warnings) say(`warning: ${w}`);
      say(
        `exported ${result.runs.length} run(s) to ${result.file} (${result.bytes} bytes): ${result.runs.join(', ')}`,
      );
      if (values.json)
        printJson({ file: result.file, bytes: result.bytes, runs: result.runs, warnings: result.warnings });
    } else {
      const result = await importBundle(service.store, args[0]);
      for (const w of result.warnings) say(`warning: ${w}`);
      for (const s of result.skipped) say(`skipped ${s.id}: ${s.reason}`);
      say(
        `imported ${result.imported.length} run(s) into ${service.store.dataDir}${result.imported.length ? `: ${result.imported.join(', ')}` : ''}`,
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
