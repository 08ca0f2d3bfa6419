/**
 * Seed-aware comparison: runs that differ only in their seeds form a group, shown as mean ± sd with the per-seed
 * values; a difference smaller than the seed spread, or a reduction whose CI holds 0, is "within noise".
 */
import { flattenConfig, jobConfigOf, type FlatConfig } from './configDiff.ts';

export interface SeedRun {
  id: string;
  kind: string;
  seed: number | null;
  config: unknown;
  /** The config of the run this one measures (a SCALAR run's SAE run), when it differs per seed too. */
  sourceConfig?: unknown;
  arch?: string | null;
  setup?: string | null;
}

const SEED_KEY = /(^|\.)[a-z_]*seed$/i;

/** What a run is apart from its seeds: its flattened config without seed keys, its SAE's folded in. */
export function identityOf(run: SeedRun): FlatConfig {
  const own = flattenConfig(jobConfigOf(run.config));
  const out: FlatConfig = { kind: run.kind };
  for (const [k, v] of Object.entries(own)) if (!SEED_KEY.test(k)) out[k] = v;
  if (run.sourceConfig !== undefined) {
    // The SAE run id differs per seed; what it *is* (its config without seeds) is the identity.
    delete out.sae;
    for (const [k, v] of Object.entries(flattenConfig(jobConfigOf(run.sourceConfig))))
      if (!SEED_KEY.test(k)) out[`sae.${k}`] = v;
  }
  return out;
}

const identityKey = (f: FlatConfig) =>
  JSON.stringify(
    Object.keys(f)
      .sort()
      .map((k) => [k, f[k]]),
  );

export interface SeedGroup {
  key: string;
  label: string;
  runIds: string[];
  seeds: (number | null)[];
}

/** Groups of runs equal but for their seeds, in the order their first run appears; singletons included. */
export function seedGroups(runs: SeedRun[]): SeedGroup[] {
  const groups = new Map<string, SeedGroup>();
  for (const r of runs) {
    const key = identityKey(identityOf(r));
    let g = groups.get(key);
    if (!g) {
      const what = [r.arch, r.setup].filter(Boolean).join(' · ');
      g = { key, label: what ? `${r.kind} ${what}` : r.kind, runIds: [], seeds: [] };
      groups.set(key, g);
    }
    g.runIds.push(r.id);
    g.seeds.push(r.seed);
  }
  const list = [...groups.values()];
  // Distinguish groups that read the same (e.g. two topk SAE sets of different widths).
  const seen = new Map<string, number>();
  for (const g of list) seen.set(g.label, (seen.get(g.label) ?? 0) + 1);
  const counter = new Map<string, number>();
  for (const g of list)
    if ((seen.get(g.label) ?? 0) > 1) {
      const n = (counter.get(g.label) ?? 0) + 1;
      counter.set(g.label, n);
      g.label = `${g.label} #${n}`;
    }
  return list;
}

export interface MeanSd {
  mean: number;
  sd: number;
  n: number;
}

/** Mean and sample standard deviation (n − 1); sd is 0 for a single value. Non-finite values are left out. */
export function meanSd(values: (number | null | undefined)[]): MeanSd | null {
  const xs = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const n = xs.length;
  if (n === 0) return null;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, n };
}

/**
 * Why a difference (or a % reduction) is within noise, or null when it is not: its 95 % CI holds 0, or it is
 * no larger than the seed spread (the larger sd of the groups compared).
 */
export function withinNoise(
  value: number | null | undefined,
  opts: { ci?: [number | null, number | null] | null; sd?: number | null },
): string | null {
  if (typeof value !== 'number' || !Number.isFinite(value)) return null;
  const [lo, hi] = opts.ci ?? [null, null];
  if (typeof lo === 'number' && typeof hi === 'number' && lo <= 0 && hi >= 0) return 'the 95 % CI includes 0';
  if (typeof opts.sd === 'number' && opts.sd > 0 && Math.abs(value) <= opts.sd)
    return 'smaller than the seed spread (sd)';
  return null;
}

/** Difference of two groups' means, with the seed spread it is judged against. */
export function groupDifference(
  a: MeanSd,
  b: MeanSd,
): { diff: number; spread: number; noise: string | null } {
  const diff = a.mean - b.mean;
  const spread = Math.max(a.sd, b.sd);
  return { diff, spread, noise: withinNoise(diff, { sd: spread }) };
}
