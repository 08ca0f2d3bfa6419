/// <reference types="svelte" />
/// <reference types="vite/client" />
import type { Api } from '../src-shared/api.ts';

declare global {
  interface Window {
    /** The Electron preload bridge (src-main/app/preload.ts); absent in web mode. */
    scalar?: Api;
  }
}
