/**
 * The run table's pure parts: its state in the URL (parse ↔ write, forgiving of junk), the query it sends, the
 * headline columns chosen for the kinds on a page, and the number formats the cells use.
 */
import { describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src-shared/api.ts';
import { formatAge, formatPercent, formatSig } from '../../src-renderer/lib/format.ts';
import { liveProgressOf, metricColumnsFor } from '../../src-renderer/views/runs/columns.ts';
import {
  DEFAULT_STATE,
  PAGE_SIZE,
  clearedFilters,
  isFiltered,
  nextSort,
  parseRunsParams,
  queryOf,
  runsParamsOf,
} from '../../src-renderer/views/runs/runsParams.ts';

const parse = (q: string) => parseRunsParams(new URLSearchParams(q));

function run(kind: string, headline: RunSummary['headline'] = {}): RunSummary {
  return {
    id: `${kind}-1`,
    kind,
    name: kind,
    parentId: null,
    status: 'completed',
    seed: 0,
    backend: 'wasm',
    createdAt: '2026-01-01T00:00:00Z',
    startedAt: null,
    finishedAt: null,
    wallSeconds: 1,
    progress: null,
    summary: null,
    config: null,
    error: null,
    note: '',
    tags: [],
    arch: null,
    setup: null,
    headline,
    childCount: 0,
    parentName: null,
  };
}

describe('run table URL state', () => {
  it('reads the defaults from an empty query and writes nothing for them', () => {
    expect(parse('')).toEqual(DEFAULT_STATE);
    expect(Object.values(runsParamsOf(DEFAULT_STATE)).every((v) => v === null)).toBe(true);
  });

  it('round-trips every field', () => {
    const q =
      'q=topk&kind=sae,lm&status=running,failed&arch=jsae&setup=tblock&tag=paper&parent=lm-1&sort=l0&dir=asc&group=arch&page=3';
    const state = parse(q);
    expect(state).toMatchObject({
      search: 'topk',
      kinds: ['sae', 'lm'],
      statuses: ['running', 'failed'],
      archs: ['jsae'],
      setups: ['tblock'],
      tag: 'paper',
      parent: 'lm-1',
      sort: 'l0',
      dir: 'asc',
      group: 'arch',
      page: 3,
    });
    const written = new URLSearchParams(
      Object.entries(runsParamsOf(state)).filter((e): e is [string, string] => e[1] !== null),
    );
    expect(parse(written.toString())).toEqual(state);
  });

  it('drops what it does not know instead of failing', () => {
    const state = parse('sort=bogus&dir=sideways&group=colour&status=done,completed&page=-2');
    expect(state.sort).toBe('created');
    expect(state.dir).toBe('desc');
    expect(state.group).toBe('');
    expect(state.statuses).toEqual(['completed']);
    expect(state.page).toBe(1);
  });

  it('sends paged queries with only the filters that are set', () => {
    const q = queryOf({ ...DEFAULT_STATE, search: '  x ', kinds: ['sae'], page: 2, group: 'setup' });
    expect(q).toEqual({
      search: 'x',
      kinds: ['sae'],
      groupBy: 'setup',
      sort: 'created',
      dir: 'desc',
      offset: PAGE_SIZE,
      limit: PAGE_SIZE,
    });
  });

  it('knows when it is filtered and clears filters but keeps sort and grouping', () => {
    const state = parse('tag=a&sort=name&dir=asc&group=kind&page=4');
    expect(isFiltered(state)).toBe(true);
    const cleared = clearedFilters(state);
    expect(isFiltered(cleared)).toBe(false);
    expect(cleared).toMatchObject({ sort: 'name', dir: 'asc', group: 'kind', page: 1 });
  });

  it('sorts a new column descending (names ascending) and toggles the current one', () => {
    expect(nextSort(DEFAULT_STATE, 'l0')).toEqual({ sort: 'l0', dir: 'desc' });
    expect(nextSort(DEFAULT_STATE, 'name')).toEqual({ sort: 'name', dir: 'asc' });
    expect(nextSort(DEFAULT_STATE, 'created')).toEqual({ sort: 'created', dir: 'asc' });
  });
});

describe('run table columns', () => {
  const keys = (rows: RunSummary[], kinds: string[] = [], sort = 'created' as const) =>
    metricColumnsFor(rows, kinds, sort).map((c) => c.key);

  it('shows the headline figures of the kinds on the page', () => {
    expect(keys([run('lm')])).toEqual(['val_loss']);
    expect(keys([run('sae'), run('scalar')])).toEqual([
      'explained_variance',
      'l0',
      'ce_loss_increase',
      'auc_abs',
      'auc_rel',
    ]);
    expect(keys([run('pipeline')])).toEqual([]);
    expect(keys([], ['lm'])).toEqual(['val_loss']);
    expect(metricColumnsFor([run('lm')], [], 'auc_rel').map((c) => c.key)).toEqual(['val_loss', 'auc_rel']);
  });

  it('formats EV as a percentage and AUCs to four significant digits', () => {
    const cols = Object.fromEntries(
      metricColumnsFor([run('sae'), run('scalar')], [], 'created').map((c) => [c.key, c]),
    );
    expect(cols.explained_variance.format(0.93421)).toBe('93.4%');
    expect(cols.auc_abs.format(0.123456)).toBe('0.1235');
    expect(cols.l0.format(null)).toBe('—');
  });

  it('takes live progress from events, else from the stored copy', () => {
    const r = { ...run('lm'), status: 'running' as const, progress: { step: 5, total: 10, rate: 2, eta: 3 } };
    expect(liveProgressOf(r, undefined)).toMatchObject({
      step: 5,
      total: 10,
      etaSeconds: 3,
      rate: '2.0 steps/s',
    });
    const live = {
      step: 7,
      total: 10,
      stepsPerSecond: 1,
      unitsPerSecond: 20_000,
      unit: 'tokens',
      elapsedSeconds: 7,
      etaSeconds: 3,
      values: {},
    };
    expect(liveProgressOf(r, live)).toMatchObject({ step: 7, rate: '20.0k tokens/s' });
    expect(liveProgressOf({ ...r, progress: null }, undefined)).toBeNull();
  });
});

describe('formatters', () => {
  it('formatSig keeps significant digits without exponents for everyday numbers', () => {
    expect(formatSig(0.012345, 3)).toBe('0.0123');
    expect(formatSig(12.345, 3)).toBe('12.3');
    expect(formatSig(1234.5, 3)).toBe('1235');
    expect(formatSig(0, 3)).toBe('0');
    expect(formatSig(Number.NaN)).toBe('—');
  });

  it('formatPercent and formatAge', () => {
    expect(formatPercent(0.5)).toBe('50.0%');
    const now = Date.parse('2026-01-10T12:00:00Z');
    expect(formatAge('2026-01-10T11:59:50Z', now)).toBe('just now');
    expect(formatAge('2026-01-10T11:57:00Z', now)).toBe('3 min ago');
    expect(formatAge('2026-01-10T07:00:00Z', now)).toBe('5 h ago');
    expect(formatAge('2026-01-08T12:00:00Z', now)).toBe('2 d ago');
    expect(formatAge(null, now)).toBe('—');
  });
});
