/**
 * The webgpu tests run on a software adapter where there is no GPU: SwiftShader through Vulkan (Debian's
 * chromium-common ships its ICD file; .ci/run installs it with libvulkan1). The Vulkan loader reads
 * VK_ICD_FILENAMES when Dawn creates its instance, so it is set here, before the backend first loads.
 */
import fs from 'node:fs';
import { initBackend, type BackendReport } from '../../src-main/engine/backend.ts';

export const SWIFTSHADER_ICD_FILES = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
];

/** Points Vulkan at SwiftShader unless the environment already chose a driver or Dawn flags. */
export function useSoftwareAdapterIfNoGpu(): void {
  if (process.env.VK_ICD_FILENAMES || process.env.SCALAR_WEBGPU_FLAGS) return;
  if (fs.existsSync('/dev/dri') || fs.readdirSync('/dev').some((f) => /^nvidia\d+$/.test(f))) return;
  const icd = SWIFTSHADER_ICD_FILES.find((f) => fs.existsSync(f));
  if (icd) process.env.VK_ICD_FILENAMES = icd;
}

/** The webgpu backend, forced (a software adapter is fine): fails, never skips, when there is none. */
export async function initWebGpu(): Promise<BackendReport> {
  useSoftwareAdapterIfNoGpu();
  return initBackend('webgpu');
}
