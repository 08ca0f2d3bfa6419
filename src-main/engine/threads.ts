/**
 * Worker threads for engine code. Each worker entry is a module next to the code that starts it:
 * - from TypeScript sources (tsx), `<name>.ts`; the worker needs the tsx loader registered in its own thread
 *   before importing its entry, which workerBoot.mjs does;
 * - from the build (`npm run build`), `<name>.js` in out/main/: electron.vite.config.ts builds every worker
 *   entry as its own output file and writes all chunks flat into out/main/, so the entry is plain JavaScript
 *   next to the calling chunk and starts directly, with no loader.
 */
import { Worker } from 'node:worker_threads';

/** Started from sources: registers tsx, then imports the `.ts` entry. */
const BOOT = new URL('./workerBoot.mjs', import.meta.url);

/** Starts `entry` (a module URL) in a worker thread; `data` arrives as `workerData.init`. */
export function spawnWorker(entry: URL, data: unknown, transferList: Transferable[] = []): Worker {
  return new Worker(entry.pathname.endsWith('.ts') ? BOOT : entry, {
    workerData: { entry: entry.href, init: data },
    transferList: transferList as never,
  });
}

/** The module URL of a sibling entry, with the extension of the running code (.ts from sources, .js built). */
export function siblingEntry(base: string, name: string): URL {
  return new URL(`./${name}${new URL(base).pathname.endsWith('.ts') ? '.ts' : '.js'}`, base);
}

/** The parts laid end to end in one array (how per-thread results are joined and flat buffers are packed). */
export function concatFloat32(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
