#!/usr/bin/env node
// npm leaves platform-specific optional packages out of package-lock.json when the registry it talks to has no
// copy of them (this project's offline mirror only carries the linux-x64 builds), and `npm ci` then refuses the
// lockfile ("Missing: @rollup/rollup-darwin-arm64@ from lock file"). This adds those entries with the os / cpu /
// libc constraints taken from the package name, so `npm ci` skips them on other platforms without fetching.
// Run after any `npm install` that changes the lockfile: node scripts/complete-lockfile.mjs
import fs from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
const packages = lock.packages;
const OS = [
  'android',
  'darwin',
  'freebsd',
  'linux',
  'openbsd',
  'openharmony',
  'win32',
  'sunos',
  'aix',
  'netbsd',
];
const CPU = ['arm64', 'arm', 'x64', 'ia32', 'loong64', 'ppc64', 'riscv64', 's390x', 'mips64el'];

function resolves(from, name) {
  let base = from;
  for (;;) {
    if (`${base ? `${base}/` : ''}node_modules/${name}` in packages) return true;
    if (!base) return false;
    const i = base.lastIndexOf('/node_modules/');
    base = i >= 0 ? base.slice(0, i) : '';
  }
}

function constraints(name) {
  const parts = name.split('/').pop().split('-');
  const os = parts.find((p) => OS.includes(p));
  const cpu =
    parts.find((p) => CPU.includes(p)) ??
    (parts.includes('eabi') || parts.some((p) => p.startsWith('arm')) ? 'arm' : undefined);
  const libc = parts.some((p) => p.includes('musl'))
    ? 'musl'
    : parts.includes('gnu') || parts.some((p) => p.startsWith('gnueabi'))
      ? 'glibc'
      : undefined;
  if (!os || !cpu) return null;
  return { os: [os], cpu: [cpu], ...(os === 'linux' && libc ? { libc: [libc] } : {}) };
}

let added = 0;
for (const [path, entry] of Object.entries(packages)) {
  for (const [name, spec] of Object.entries(entry.optionalDependencies ?? {})) {
    if (resolves(path, name)) continue;
    const c = constraints(name);
    if (!c || !/^\d+\.\d+\.\d+$/.test(spec)) {
      console.error(`cannot complete ${name}@${spec} (needed by ${path}): add it by hand`);
      process.exitCode = 1;
      continue;
    }
    packages[`node_modules/${name}`] = { version: spec, dev: entry.dev, optional: true, ...c };
    added++;
  }
}
lock.packages = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
);
fs.writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
console.log(`added ${added} platform-specific optional entries`);
