/**
 * Builds the three parts of the desktop app into out/: the Electron main process (ESM, dependencies stay in
 * node_modules), the preload script (CommonJS: sandboxed preloads cannot be ES modules) and the Svelte
 * renderer (its config is shared with web mode's `scalar serve`).
 *
 * The main build has more entries than the Electron main process, so that the built code runs jobs without tsx:
 * - every worker-thread entry (WORKER_ENTRIES; started with `spawnWorker(siblingEntry(import.meta.url, name))`)
 *   becomes out/main/<name>.js. All chunks are written flat into out/main/, so a worker's entry is always next
 *   to the chunk that starts it, which is where siblingEntry looks (`.js` when built, `.ts` from sources);
 * - `serve` (out/main/serve.js): web mode from the build, `node out/main/serve.js --data-dir D --port 0`,
 *   serving out/renderer;
 * - the SIMD kernels are compiled from their AssemblyScript sources at build time and written as
 *   out/main/simd-kernels.wasm, which the built engine loads (src-main/engine/kernels/compile.ts), so the built
 *   app needs neither the kernel sources nor the compiler.
 */
import { defineConfig } from 'electron-vite';
import type { Plugin } from 'vite';
import { compileKernelBinary, PREBUILT_KERNELS_FILE } from './src-main/engine/kernels/compile.ts';
import { rendererViteConfig } from './src-renderer/vite.config.ts';

/** Worker-thread entries, by the name their starter passes to siblingEntry (test/integration/builtApp checks). */
export const WORKER_ENTRIES = {
  worker: 'src-main/jobs/worker.ts',
  pairWorker: 'src-main/engine/scalar/pairWorker.ts',
  gradientWorker: 'src-main/engine/lm/gradientWorker.ts',
  activationWorker: 'src-main/engine/sae/activationWorker.ts',
  compareWorker: 'src-main/api/compareWorker.ts',
};

/** Emits the compiled SIMD kernel module next to the built code. */
function simdKernels(): Plugin {
  return {
    name: 'scalar:simd-kernels',
    async generateBundle() {
      this.emitFile({ type: 'asset', fileName: PREBUILT_KERNELS_FILE, source: await compileKernelBinary() });
    },
  };
}

export default defineConfig({
  main: {
    plugins: [simdKernels()],
    build: {
      outDir: 'out/main',
      rollupOptions: {
        // `index` is the Electron main process: out/main/index.js, package.json's "main".
        input: { index: 'src-main/app/main.ts', serve: 'src-main/app/serve.ts', ...WORKER_ENTRIES },
        // The compiler is only used from sources (the build ships the compiled module).
        external: ['assemblyscript/asc'],
        output: { entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js' },
      },
    },
  },
  preload: {
    build: {
      outDir: 'out/preload',
      rollupOptions: {
        input: { index: 'src-main/app/preload.ts' },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
      // A sandboxed preload can only require('electron'); everything else must be inside the one file.
      externalizeDeps: false,
    },
  },
  renderer: rendererViteConfig,
});
