/**
 * Run ids: `<kind>-<yyyymmdd>-<hhmmss>-<4 hex>` in UTC, e.g. `lm-20261122-153012-ab12`. Readable in a
 * terminal, sortable by time within a kind, and safe as a folder name (they name the artifact folder).
 */
import { randomBytes } from 'node:crypto';
import { StoreError } from './errors.ts';

// No '-' in kinds, so the kind is everything before the first '-' of an id.
const KIND_PATTERN = /^[a-z][a-z0-9_]{0,31}$/;
// Imported bundles keep their ids, so accept any id that is a safe single path segment.
const RUN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function assertRunKind(kind: string): void {
  if (typeof kind !== 'string' || !KIND_PATTERN.test(kind)) {
    throw new StoreError(
      'INVALID_RUN',
      `Invalid run kind ${JSON.stringify(kind)}: use lower-case letters, digits and '_' (e.g. 'lm', 'sae')`,
    );
  }
}

export function assertRunId(id: string): void {
  if (typeof id !== 'string' || !RUN_ID_PATTERN.test(id) || id.includes('..')) {
    throw new StoreError(
      'INVALID_RUN',
      `Invalid run id ${JSON.stringify(id)}: ids are letters, digits, '.', '_' and '-' (no '..', no slashes)`,
    );
  }
}

export function newRunId(kind: string, now: Date = new Date(), suffix: string = randomSuffix()): string {
  assertRunKind(kind);
  const iso = now.toISOString(); // 2026-11-22T15:30:12.345Z
  const date = iso.slice(0, 10).replaceAll('-', '');
  const time = iso.slice(11, 19).replaceAll(':', '');
  return `${kind}-${date}-${time}-${suffix}`;
}

function randomSuffix(): string {
  return randomBytes(2).toString('hex');
}
