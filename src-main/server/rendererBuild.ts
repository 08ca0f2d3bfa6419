/**
 * Where the built renderer lives and whether it is out of date: `scalar serve` rebuilds it when a renderer
 * or shared source file is newer than the built index.html, so web mode never serves a stale UI.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** electron-vite and the standalone renderer build both write here. */
export const RENDERER_OUT_DIR = path.join(PROJECT_ROOT, 'out', 'renderer');
export const RENDERER_VITE_CONFIG = path.join(PROJECT_ROOT, 'src-renderer', 'vite.config.ts');
/** What the renderer bundle is made from (the renderer imports src-shared). */
const RENDERER_SOURCES = ['src-renderer', 'src-shared'].map((d) => path.join(PROJECT_ROOT, d));

function newestMtime(target: string): number {
  const stat = fs.statSync(target, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of fs.readdirSync(target))
    newest = Math.max(newest, newestMtime(path.join(target, entry)));
  return newest;
}

export type RendererBuildState = 'missing' | 'stale' | 'fresh';

export function rendererBuildState(
  outDir = RENDERER_OUT_DIR,
  sources = RENDERER_SOURCES,
): RendererBuildState {
  const built = fs.statSync(path.join(outDir, 'index.html'), { throwIfNoEntry: false });
  if (!built) return 'missing';
  const newestSource = Math.max(...sources.map(newestMtime));
  return newestSource > built.mtimeMs ? 'stale' : 'fresh';
}

/**
 * Builds the renderer with vite in a child process (the Svelte compiler stays out of the server process).
 * Vite's output goes to stderr so stdout stays clean for the server's own lines.
 */
export async function buildRenderer(): Promise<void> {
  const viteBin = path.join(
    path.dirname(createRequire(import.meta.url).resolve('vite/package.json')),
    'bin',
    'vite.js',
  );
  const child = spawn(
    process.execPath,
    [viteBin, 'build', '--config', RENDERER_VITE_CONFIG, '--logLevel', 'warn'],
    {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', process.stderr, process.stderr],
    },
  );
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) throw new Error(`renderer build failed (vite exited with code ${code})`);
}
