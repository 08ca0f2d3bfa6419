/**
 * The SIMD kernel module. The build (`npm run build`) compiles it once and writes it next to the built code
 * (out/main/simd-kernels.wasm, see electron.vite.config.ts); the built app loads that file and needs neither the
 * AssemblyScript sources nor the compiler. From sources (tsx) there is no such file: the module is built from
 * the AssemblyScript sources in ./simd with the `asc` compiler, cached by a hash of the sources and flags, so a
 * source edit can never run against a stale binary.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SIMD_DIR = fileURLToPath(new URL('./simd/', import.meta.url));
const ASC_FLAGS = [
  '-O3',
  '--runtime',
  'stub',
  '--enable',
  'simd',
  '--noAssert',
  '--importMemory',
  '--noExportMemory',
  '--initialMemory',
  '0',
];

function cacheDir(): string {
  if (process.env.SCALAR_KERNEL_CACHE) return process.env.SCALAR_KERNEL_CACHE;
  const repoCache = fileURLToPath(new URL('../../../node_modules/.cache/scalar-kernels/', import.meta.url));
  return fs.existsSync(path.dirname(path.dirname(repoCache)))
    ? repoCache
    : path.join(os.tmpdir(), 'scalar-kernels');
}

/** Name of the precompiled module in the build output, next to the built code that loads it. */
export const PREBUILT_KERNELS_FILE = 'simd-kernels.wasm';

/** The kernel module: the precompiled one when running from the build, else compiled from source. */
export async function kernelBinary(): Promise<Uint8Array> {
  const prebuilt = fileURLToPath(new URL(`./${PREBUILT_KERNELS_FILE}`, import.meta.url));
  if (fs.existsSync(prebuilt)) return fs.readFileSync(prebuilt);
  return compileKernelBinary();
}

/** Compiles the AssemblyScript sources (or reuses the cached result for the same sources and flags). */
export async function compileKernelBinary(): Promise<Uint8Array> {
  if (!fs.existsSync(SIMD_DIR))
    throw new Error(
      `SIMD kernels: neither a precompiled ${PREBUILT_KERNELS_FILE} nor the AssemblyScript sources (${SIMD_DIR}) ` +
        'are next to this code; rebuild with `npm run build`',
    );
  const files = fs
    .readdirSync(SIMD_DIR)
    .filter((f) => f.endsWith('.ts'))
    .sort();
  const hash = createHash('sha256');
  hash.update(ASC_FLAGS.join(' '));
  for (const f of files) hash.update(`${f}\n${fs.readFileSync(path.join(SIMD_DIR, f), 'utf8')}`);
  const dir = cacheDir();
  const cached = path.join(dir, `kernels-${hash.digest('hex').slice(0, 16)}.wasm`);
  if (fs.existsSync(cached)) return fs.readFileSync(cached);

  const { default: asc } = await import('assemblyscript/asc');
  const outputs: Record<string, Uint8Array | string> = {};
  let stderr = '';
  const result = await asc.main(
    [path.join(SIMD_DIR, 'index.ts'), ...ASC_FLAGS, '-o', 'k.wasm', '-t', 'k.wat'],
    {
      writeFile: (name, contents) => void (outputs[path.basename(name)] = contents),
      stderr: { write: (s: string | Uint8Array) => void (stderr += String(s)) } as never,
      stdout: { write: () => undefined } as never,
    },
  );
  if (result.error) throw new Error(`SIMD kernel compilation failed: ${result.error.message}\n${stderr}`);
  const binary = outputs['k.wasm'] as Uint8Array;
  // The module runs inside the tfjs-wasm heap: a data segment would overwrite the host's memory.
  if (/\(data /.test(String(outputs['k.wat'])))
    throw new Error('SIMD kernel module must not contain data segments');
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${cached}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, binary);
  fs.renameSync(tmp, cached);
  return binary;
}
