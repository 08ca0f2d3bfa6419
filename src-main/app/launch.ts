/**
 * `npm start`: the desktop app when Electron's binary is installed, otherwise web mode (`scalar serve`).
 * Electron's binary is downloaded by its install script; installs without network (ELECTRON_SKIP_BINARY_
 * DOWNLOAD=1) have the package but no binary. Arguments (--data-dir, --backend, --port) are passed on.
 *
 * Run with `node --import tsx src-main/app/launch.ts`. It must not `require('electron')` to find out: that
 * tries to download the binary when it is missing.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const require = createRequire(import.meta.url);

/** Path of the installed Electron executable, or null when only the npm package is there. */
export function installedElectronBinary(): string | null {
  let pkgDir: string;
  try {
    pkgDir = path.dirname(require.resolve('electron/package.json'));
  } catch {
    return null;
  }
  const pathFile = path.join(pkgDir, 'path.txt');
  if (!fs.existsSync(pathFile)) return null;
  const exe = path.join(pkgDir, 'dist', fs.readFileSync(pathFile, 'utf8').trim());
  return fs.existsSync(exe) ? exe : null;
}

function run(command: string, args: string[]): Promise<number> {
  const child = spawn(command, args, { cwd: PROJECT_ROOT, stdio: 'inherit' });
  // Ctrl-C reaches the child through the terminal's process group; SIGTERM sent to us alone is passed on.
  const forward = () => child.kill('SIGTERM');
  process.on('SIGTERM', forward);
  process.on('SIGINT', () => {});
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

async function launch(args: string[]): Promise<number> {
  const electron = installedElectronBinary();
  if (electron) {
    process.stderr.write(`Electron found (${electron}): building and starting the desktop app\n`);
    const electronVite = path.join(
      path.dirname(require.resolve('electron-vite/package.json')),
      'bin',
      'electron-vite.js',
    );
    const built = await run(process.execPath, [electronVite, 'build']);
    if (built !== 0) return built;
    return run(electron, [PROJECT_ROOT, ...args]);
  }
  process.stderr.write(
    'Electron binary not installed (e.g. ELECTRON_SKIP_BINARY_DOWNLOAD=1): starting web mode, scalar serve\n',
  );
  return run(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'scalar.mjs'), 'serve', ...args]);
}

process.exitCode = await launch(process.argv.slice(2));
