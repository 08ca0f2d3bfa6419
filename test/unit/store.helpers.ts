/** Shared by the store tests: throwaway data dirs under the OS temp dir. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function makeTempDir(prefix = 'scalar-store-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A clock that only moves when told to, so timestamps and wall times are exact in assertions. */
export class FakeClock {
  private t: number;

  constructor(iso = '2026-11-22T15:30:12.000Z') {
    this.t = Date.parse(iso);
  }

  now = (): Date => new Date(this.t);

  advance(seconds: number): void {
    this.t += seconds * 1000;
  }
}
