/**
 * The renderer build, shared by electron-vite (electron.vite.config.ts uses it as its `renderer` section) and
 * by `scalar serve`, which runs vite with this file when the web-mode bundle is missing or stale. Both write
 * the same bundle to out/renderer.
 */
import { fileURLToPath } from 'node:url';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig, type UserConfig } from 'vite';

export const rendererViteConfig: UserConfig = {
  root: fileURLToPath(new URL('.', import.meta.url)),
  // Relative asset URLs: the same bundle loads from app:// in Electron and from http://127.0.0.1 in web mode.
  base: './',
  plugins: [svelte({ compilerOptions: { runes: true } })],
  build: {
    outDir: fileURLToPath(new URL('../out/renderer', import.meta.url)),
    emptyOutDir: true,
    // Electron's Chromium and any current browser (web mode is also opened from other machines' browsers).
    target: 'es2022',
    // No polyfill: it would be the only script not loaded from a file, and every target supports modulepreload.
    modulePreload: { polyfill: false },
    minify: 'esbuild',
    sourcemap: true,
    reportCompressedSize: false,
    rollupOptions: {
      // Named explicitly: electron-vite would otherwise look for src/renderer/index.html.
      input: fileURLToPath(new URL('./index.html', import.meta.url)),
      onwarn(warning, warn) {
        // zod's sources carry comments Rollup cannot place; harmless, and noise in every build log.
        if (warning.code === 'INVALID_ANNOTATION' && warning.id?.includes('node_modules')) return;
        warn(warning);
      },
    },
  },
};

export default defineConfig(rendererViteConfig);
