/**
 * The webgpu tests run on a software adapter where there is no GPU (CI):
 * - SwiftShader through Vulkan (Debian's chromium-common ships its ICD; .ci/run installs it with libvulkan1):
 *   Dawn's Vulkan backend at the core feature level, the path real Linux GPUs take; used for the kernel tests.
 * - Mesa's llvmpipe through Dawn's OpenGL ES backend (EGL_PLATFORM=surfaceless, compatibility feature level):
 *   25–40× faster than SwiftShader for tfjs's own kernels here; used for the whole-job tests.
 * Dawn reads these when it creates its instance, so they are set before the backend first loads (in this
 * process, or in the environment of the CLI children). A machine with a GPU keeps its own adapter.
 */
import fs from 'node:fs';
import { initBackend, type BackendReport } from '../../src-main/engine/backend.ts';

export const SWIFTSHADER_ICD_FILES = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
];

const hasGpuNode = () =>
  fs.existsSync('/dev/dri') || fs.readdirSync('/dev').some((f) => /^nvidia\d+$/.test(f));

const libDirs = () => ['/usr/lib', ...fs.readdirSync('/usr/lib').map((d) => `/usr/lib/${d}`)];
const hasLib = (name: string) => libDirs().some((d) => fs.existsSync(`${d}/${name}`));

/** The environment that gives Dawn a software adapter of `kind` (empty where a GPU or a choice exists). */
export function softwareAdapterEnv(kind: 'swiftshader' | 'llvmpipe'): Record<string, string> {
  if (process.env.VK_ICD_FILENAMES || process.env.SCALAR_WEBGPU_FLAGS || hasGpuNode()) return {};
  if (kind === 'llvmpipe' && hasLib('libEGL_mesa.so.0') && hasLib('libGLESv2.so.2'))
    return { SCALAR_WEBGPU_FLAGS: 'backend=opengles', EGL_PLATFORM: 'surfaceless' };
  const icd = SWIFTSHADER_ICD_FILES.find((f) => fs.existsSync(f));
  return icd ? { VK_ICD_FILENAMES: icd } : {};
}

/** The webgpu backend in this process, forced (a software adapter is fine): fails, never skips, without one. */
export async function initWebGpu(kind: 'swiftshader' | 'llvmpipe' = 'swiftshader'): Promise<BackendReport> {
  Object.assign(process.env, softwareAdapterEnv(kind));
  return initBackend('webgpu');
}
