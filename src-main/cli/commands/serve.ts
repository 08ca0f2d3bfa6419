/** scalar serve: web mode. The workstation UI on http://127.0.0.1:PORT/?token=..., driven over a WebSocket. */
import { parseArgs } from 'node:util';
import { buildRenderer, RENDERER_OUT_DIR, rendererBuildState } from '../../server/rendererBuild.ts';
import { serveUntilStopped } from '../../server/serveUntilStopped.ts';
import { GLOBAL_OPTIONS, say, UsageError } from '../context.ts';

export const usage = `scalar serve [--port N] [--data-dir D] [--backend B] [--no-build] [--json]   web mode on 127.0.0.1
  --port N      port to listen on (default: a free one)
  --no-build    serve out/renderer as it is (default: rebuild it first when missing or older than its sources)
  --json        print {"url", "port", "dataDir"} as the last stdout line once the server is up`;

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { ...GLOBAL_OPTIONS, port: { type: 'string' }, 'no-build': { type: 'boolean', default: false } },
  });
  if (values.help) return (say(usage), 0);
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port needs a port number, got '${values.port}'`);

  const state = rendererBuildState();
  if (values['no-build']) {
    if (state === 'missing')
      throw new UsageError(
        `no built renderer in ${RENDERER_OUT_DIR}; run without --no-build (or npm run build)`,
      );
  } else if (state !== 'fresh') {
    say(
      `renderer build ${state === 'missing' ? 'missing' : 'older than its sources'}: building ${RENDERER_OUT_DIR} ...`,
    );
    await buildRenderer();
  }

  return serveUntilStopped({
    rendererDir: RENDERER_OUT_DIR,
    port,
    dataDir: values['data-dir'],
    backend: values.backend,
    json: values.json,
    label: 'web mode',
  });
}
