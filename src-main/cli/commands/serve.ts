/** scalar serve: web mode. The workstation UI on http://127.0.0.1:PORT/?token=..., driven over a WebSocket. */
import { parseArgs } from 'node:util';
import { ScalarService } from '../../api/service.ts';
import { buildRenderer, RENDERER_OUT_DIR, rendererBuildState } from '../../server/rendererBuild.ts';
import { startWebServer } from '../../server/webServer.ts';
import { prepareDataDir } from '../../store/index.ts';
import { GLOBAL_OPTIONS, printJson, say, UsageError } from '../context.ts';

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

  const layout = prepareDataDir({ dataDir: values['data-dir'] });
  const service = new ScalarService({ dataDir: layout.root, mode: 'web', backend: values.backend });
  let server;
  try {
    server = await startWebServer({ api: service, files: service, rendererDir: RENDERER_OUT_DIR, port });
  } catch (err) {
    await service.close();
    throw err;
  }
  say(`SCALAR Workstation (web mode), data dir ${layout.root}`);
  say(`open ${server.url}`);
  say(
    `listening on 127.0.0.1 only; from another machine use an SSH tunnel (ssh -L ${server.port}:127.0.0.1:${server.port} host). Ctrl-C stops.`,
  );
  if (values.json) printJson({ url: server.url, port: server.port, dataDir: layout.root });

  await untilSignalled();
  say('shutting down: stopping jobs (they can be resumed) and closing the server ...');
  await server.close();
  await service.close();
  return 0;
}

/** Resolves on the first SIGINT/SIGTERM; a second one exits at once. */
function untilSignalled(): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
      say(`\n${signal} received`);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
