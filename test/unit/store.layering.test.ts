import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// DESIGN.md layering: the store sits below jobs/api and beside the engine; it must not reach up or sideways.
const FORBIDDEN = [
  /\/engine\//,
  /\/app\//,
  /\/server\//,
  /\/api\//,
  /\/jobs\//,
  /\/cli\//,
  /src-renderer/,
  /^electron$/,
];

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

describe('store layering', () => {
  it('imports nothing from engine, app, server, api, jobs, cli, the renderer or electron', () => {
    const repoRoot = path.resolve(import.meta.dirname, '../..');
    const storeDir = path.join(repoRoot, 'src-main', 'store');
    const files = sourceFiles(storeDir);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const text = fs.readFileSync(file, 'utf8');
      const specifiers = [...text.matchAll(/(?:import|export)[^'"]*?from\s+'([^']+)'/g)].map((m) => m[1]);
      for (const spec of specifiers) {
        // Relative imports are judged by their path inside the repo, so the checkout location cannot matter.
        const resolved = spec.startsWith('.')
          ? '/' +
            path
              .relative(repoRoot, path.resolve(path.dirname(file), spec))
              .split(path.sep)
              .join('/')
          : spec;
        for (const pattern of FORBIDDEN) {
          expect(pattern.test(resolved), `${path.basename(file)} imports ${spec}`).toBe(false);
        }
      }
    }
  });
});
