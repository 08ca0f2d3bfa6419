/**
 * Web mode as a foreground process, shared by `scalar serve` (sources) and `out/main/serve.js` (the build):
 * opens the service on a data dir, starts the server with uploads and downloads, prints the URL, and on the
 * first SIGINT/SIGTERM stops the jobs (they become resumable) and closes everything; a second signal exits.
 */
import { ScalarService } from '../api/service.ts';
import { prepareDataDir } from '../store/index.ts';
import { startWebServer } from './webServer.ts';

/** Human lines go to stderr; stdout's last line is the --json object. */
const say = (message: string) => process.stderr.write(`${message}\n`);

export interface ServeOptions {
  rendererDir: string;
  port: number;
  dataDir?: string;
  backend?: string;
  json?: boolean;
  /** Shown in the first line, e.g. 'web mode' or 'web mode, built app'. */
  label: string;
}

export async function serveUntilStopped(options: ServeOptions): Promise<number> {
  const layout = prepareDataDir({ dataDir: options.dataDir });
  const service = new ScalarService({ dataDir: layout.root, mode: 'web', backend: options.backend });
  let server;
  try {
    server = await startWebServer({
      api: service,
      files: service,
      rendererDir: options.rendererDir,
      port: options.port,
    });
  } catch (err) {
    await service.close();
    throw err;
  }
  say(`SCALAR Workstation (${options.label}), data dir ${layout.root}`);
  say(`open ${server.url}`);
  say(
    `listening on 127.0.0.1 only; from another machine use an SSH tunnel (ssh -L ${server.port}:127.0.0.1:${server.port} host). Ctrl-C stops.`,
  );
  if (options.json)
    process.stdout.write(`${JSON.stringify({ url: server.url, port: server.port, dataDir: layout.root })}\n`);

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
