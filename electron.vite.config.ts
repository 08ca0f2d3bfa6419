/**
 * Builds the three parts of the desktop app into out/: the Electron main process (ESM, dependencies stay in
 * node_modules), the preload script (CommonJS: sandboxed preloads cannot be ES modules) and the Svelte
 * renderer (its config is shared with web mode's `scalar serve`).
 *
 * Not bundled yet: the job worker threads (started through src-main/engine/workerBoot.mjs from a path next to
 * the calling module; the engine compiles its SIMD kernels from sources next to it). The built main process
 * therefore cannot run jobs until worker bundling lands; web mode (`scalar serve`) runs them from sources.
 */
import { defineConfig } from 'electron-vite';
import { rendererViteConfig } from './src-renderer/vite.config.ts';

export default defineConfig({
  main: {
    build: {
      outDir: 'out/main',
      // Named `index` so the output is out/main/index.js, package.json's "main".
      rollupOptions: { input: { index: 'src-main/app/main.ts' } },
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
