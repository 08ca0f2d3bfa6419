/** Sweep fields: value lists as a person types them, and one combination per run. */
import { describe, expect, it } from 'vitest';
import { cartesian, PAPER_JSAE_LAMBDAS_SUM, parseIntList, parseNumberList } from '../../src-shared/sweep.ts';

describe('parseIntList', () => {
  it('reads single values, lists and ranges; keeps order and drops repeats', () => {
    expect(parseIntList('0')).toEqual({ ok: true, values: [0] });
    expect(parseIntList(' 0, 1 ,2 ')).toEqual({ ok: true, values: [0, 1, 2] });
    expect(parseIntList('0-3')).toEqual({ ok: true, values: [0, 1, 2, 3] });
    expect(parseIntList('5 1-2, 1')).toEqual({ ok: true, values: [5, 1, 2] });
  });
  it('refuses what is not a list of whole numbers, in words', () => {
    expect(parseIntList('')).toEqual({ ok: false, error: 'give at least one value' });
    expect(parseIntList('1.5')).toMatchObject({
      ok: false,
      error: expect.stringMatching(/not a whole number/),
    });
    expect(parseIntList('-1')).toMatchObject({ ok: false });
    expect(parseIntList('4-2')).toMatchObject({ ok: false, error: expect.stringMatching(/backwards/) });
    expect(parseIntList('0-100000')).toMatchObject({ ok: false, error: expect.stringMatching(/more than/) });
  });
});

describe('parseNumberList', () => {
  it('reads decimals and exponents', () => {
    expect(parseNumberList('16, 0.001 1.2e-3')).toEqual({ ok: true, values: [16, 0.001, 0.0012] });
    expect(parseNumberList('x')).toMatchObject({ ok: false });
    expect(parseNumberList('-1')).toMatchObject({ ok: false });
  });
});

describe('cartesian', () => {
  it('gives every combination, the first axis slowest', () => {
    expect(cartesian({ a: [1, 2], b: ['x', 'y'] })).toEqual([
      { a: 1, b: 'x' },
      { a: 1, b: 'y' },
      { a: 2, b: 'x' },
      { a: 2, b: 'y' },
    ]);
    expect(cartesian({ a: [1], b: [] })).toEqual([]);
  });
});

it("the paper's JSAE λ series is 0 and the E12 series × 10⁻³", () => {
  expect(PAPER_JSAE_LAMBDAS_SUM).toEqual([
    0, 0.001, 0.0012, 0.0015, 0.0018, 0.0022, 0.0027, 0.0033, 0.0039, 0.0047, 0.0056, 0.0068, 0.0082, 0.01,
  ]);
});
