/**
 * Sweeps: the value lists a form field may hold ("0,1,2", "0-4", "0.001, 0.0012") and the cartesian product of
 * several lists, one run per combination.
 */

/** More runs than this in one sweep is almost certainly a typo (e.g. seeds "0-1000"). */
export const MAX_SWEEP_RUNS = 500;

export type ListResult = { ok: true; values: number[] } | { ok: false; error: string };

/**
 * Whole numbers ≥ 0, comma- or space-separated, with ranges: "0", "0,1,2", "0-4", "0-2, 7". Order kept,
 * duplicates dropped.
 */
export function parseIntList(text: string, maxCount = MAX_SWEEP_RUNS): ListResult {
  const tokens = text.split(/[\s,;]+/).filter(Boolean);
  if (tokens.length === 0) return { ok: false, error: 'give at least one value' };
  const out: number[] = [];
  for (const t of tokens) {
    const range = /^(\d+)\s*(?:-|\.\.|–)\s*(\d+)$/.exec(t);
    if (range) {
      const [a, b] = [Number(range[1]), Number(range[2])];
      if (b < a) return { ok: false, error: `range ${t} runs backwards` };
      if (b - a + 1 > maxCount) return { ok: false, error: `range ${t} has more than ${maxCount} values` };
      for (let v = a; v <= b; v++) out.push(v);
    } else if (/^\d+$/.test(t)) {
      out.push(Number(t));
    } else {
      return { ok: false, error: `'${t}' is not a whole number ≥ 0 (write e.g. 0,1,2 or 0-4)` };
    }
  }
  const values = [...new Set(out)];
  if (values.length > maxCount) return { ok: false, error: `more than ${maxCount} values` };
  return { ok: true, values };
}

/** Numbers ≥ 0, comma- or space-separated: "16", "0, 0.001, 1.2e-3". Order kept, duplicates dropped. */
export function parseNumberList(text: string, maxCount = MAX_SWEEP_RUNS): ListResult {
  const tokens = text.split(/[\s,;]+/).filter(Boolean);
  if (tokens.length === 0) return { ok: false, error: 'give at least one value' };
  const out: number[] = [];
  for (const t of tokens) {
    const v = Number(t);
    if (!Number.isFinite(v) || v < 0) return { ok: false, error: `'${t}' is not a number ≥ 0` };
    out.push(v);
  }
  const values = [...new Set(out)];
  if (values.length > maxCount) return { ok: false, error: `more than ${maxCount} values` };
  return { ok: true, values };
}

/** Every combination of the axes' values, the first axis varying slowest: {a:[1,2], b:['x']} → [{a:1,b:'x'}, {a:2,b:'x'}]. */
export function cartesian<T extends Record<string, readonly unknown[]>>(
  axes: T,
): { [K in keyof T]: T[K][number] }[] {
  let rows: Record<string, unknown>[] = [{}];
  for (const [key, values] of Object.entries(axes)) {
    rows = rows.flatMap((row) => values.map((v) => ({ ...row, [key]: v })));
  }
  return rows as { [K in keyof T]: T[K][number] }[];
}

/**
 * The paper's JSAE λ sweep (SPEC §3.3): 0 and the E12 series 1.0 … 8.2 and 10, × 10⁻³, in the `sum` convention
 * with batches of 128 × 128 tokens. λ = 0 is a TopK pair.
 */
export const PAPER_JSAE_LAMBDAS_SUM = [0, 1.0, 1.2, 1.5, 1.8, 2.2, 2.7, 3.3, 3.9, 4.7, 5.6, 6.8, 8.2, 10].map(
  (v) => Math.round(v * 1e4) / 1e7,
);
