/** Config diff of several runs, as W&B's comparer shows it: nested keys flattened, differing keys first. */

export type FlatConfig = Record<string, string>;

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

const scalarText = (v: unknown): string =>
  typeof v === 'string' ? v : v === null ? 'null' : typeof v === 'object' ? JSON.stringify(v) : String(v);

/**
 * `{a: {b: 1, c: [2, 3]}, d: 'x'}` → `{'a.b': '1', 'a.c': '[2,3]', d: 'x'}`. Arrays of plain values stay one
 * value (as they read in a config); arrays holding objects are flattened by index (`a.0.b`).
 */
export function flattenConfig(config: unknown, prefix = ''): FlatConfig {
  const out: FlatConfig = {};
  const walk = (v: unknown, key: string) => {
    if (v === undefined) return;
    if (isObject(v)) {
      const entries = Object.entries(v);
      if (entries.length === 0 && key) out[key] = '{}';
      for (const [k, x] of entries) walk(x, key ? `${key}.${k}` : k);
    } else if (Array.isArray(v) && v.some((x) => isObject(x) || Array.isArray(x))) {
      v.forEach((x, i) => walk(x, `${key}.${i}`));
    } else if (key) out[key] = scalarText(v);
  };
  walk(config, prefix);
  return out;
}

/** A run's own job config: the `config` inside a stored `{kind, config}` spec, else the whole thing. */
export function jobConfigOf(config: unknown): unknown {
  return isObject(config) && 'kind' in config && isObject(config.config) ? config.config : config;
}

export interface DiffRow {
  key: string;
  /** One value per run, null where the run has no such key. */
  values: (string | null)[];
  differs: boolean;
}

/** Every key of any config, in key order; `differs` when the runs do not all hold the same value. */
export function configDiff(configs: unknown[]): DiffRow[] {
  const flat = configs.map((c) => flattenConfig(c));
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort((a, b) =>
    a.localeCompare(b, 'en', { numeric: true }),
  );
  return keys.map((key) => {
    const values = flat.map((f) => (key in f ? f[key] : null));
    return { key, values, differs: values.some((v) => v !== values[0]) };
  });
}
