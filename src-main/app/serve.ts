/**
 * Web mode from the build output: `node out/main/serve.js [--port N] [--data-dir D] [--backend B] [--json]`.
 * The same server as `scalar serve`, but for built code: it serves the renderer built next to it
 * (out/renderer) as it is, so it needs neither tsx nor vite nor the sources, and its jobs run in the built
 * worker entries (out/main/worker.js, ...) with the precompiled SIMD kernels (out/main/simd-kernels.wasm).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GLOBAL_OPTIONS, say } from '../cli/context.ts';
import { serveUntilStopped } from '../server/serveUntilStopped.ts';

export const usage = `node out/main/serve.js [--port N] [--data-dir D] [--backend B] [--json]   web mode from the build
  --port N      port to listen on, on 127.0.0.1 (default: a free one)
  --json        print {"url", "port", "dataDir"} as the last stdout line once the server is up`;

/** The renderer electron-vite built beside this code (out/main/../renderer). */
export function builtRendererDir(): string {
  return fileURLToPath(new URL('../renderer/', import.meta.url));
}

export async function serveBuilt(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { ...GLOBAL_OPTIONS, port: { type: 'string' } } });
  if (values.help) return (say(usage), 0);
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    say(`--port needs a port number, got '${values.port}'\n\n${usage}`);
    return 2;
  }
  const rendererDir = builtRendererDir();
  if (!fs.existsSync(path.join(rendererDir, 'index.html'))) {
    say(`no built renderer in ${rendererDir}: run npm run build`);
    return 1;
  }

  return serveUntilStopped({
    rendererDir,
    port,
    dataDir: values['data-dir'],
    backend: values.backend,
    json: values.json,
    label: 'web mode, built app',
  });
}

process.exitCode = await serveBuilt(process.argv.slice(2));
