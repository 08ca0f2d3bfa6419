/**
 * The run table's state as it lives in the URL (`#/runs?q=…&kind=sae,lm&sort=l0&dir=asc&group=arch&page=3`), so
 * reload, back/forward and a pasted link show the same table. Parsing is forgiving: unknown values are dropped.
 */
import {
  RUN_GROUP_KEYS,
  RUN_SORT_KEYS,
  RunStatusSchema,
  type RunGroupKey,
  type RunQuery,
  type RunSortKey,
  type RunStatusName,
} from '../../../src-shared/runs.ts';

export const PAGE_SIZE = 100;

export interface RunsViewState {
  search: string;
  kinds: string[];
  statuses: RunStatusName[];
  archs: string[];
  setups: string[];
  tag: string;
  parent: string;
  sort: RunSortKey;
  dir: 'asc' | 'desc';
  group: RunGroupKey | '';
  /** 1-based. */
  page: number;
}

export const DEFAULT_STATE: RunsViewState = {
  search: '',
  kinds: [],
  statuses: [],
  archs: [],
  setups: [],
  tag: '',
  parent: '',
  sort: 'created',
  dir: 'desc',
  group: '',
  page: 1,
};

const list = (raw: string | null): string[] =>
  (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0 && s.length <= 40)
    .slice(0, 20);

const STATUSES = new Set<string>(RunStatusSchema.options);

export function parseRunsParams(params: URLSearchParams): RunsViewState {
  const sort = params.get('sort') ?? '';
  const group = params.get('group') ?? '';
  const page = Number.parseInt(params.get('page') ?? '1', 10);
  return {
    search: (params.get('q') ?? '').slice(0, 200),
    kinds: list(params.get('kind')),
    statuses: list(params.get('status')).filter((s): s is RunStatusName => STATUSES.has(s)),
    archs: list(params.get('arch')),
    setups: list(params.get('setup')),
    tag: (params.get('tag') ?? '').slice(0, 60),
    parent: (params.get('parent') ?? '').slice(0, 80),
    sort: (RUN_SORT_KEYS as readonly string[]).includes(sort) ? (sort as RunSortKey) : DEFAULT_STATE.sort,
    dir: params.get('dir') === 'asc' ? 'asc' : 'desc',
    group: (RUN_GROUP_KEYS as readonly string[]).includes(group) ? (group as RunGroupKey) : '',
    page: Number.isFinite(page) && page >= 1 ? page : 1,
  };
}

/** The URL query for a state; defaults are left out so the plain table is plain `#/runs`. */
export function runsParamsOf(state: RunsViewState): Record<string, string | null> {
  const isDefaultSort = state.sort === DEFAULT_STATE.sort && state.dir === DEFAULT_STATE.dir;
  return {
    q: state.search || null,
    kind: state.kinds.join(',') || null,
    status: state.statuses.join(',') || null,
    arch: state.archs.join(',') || null,
    setup: state.setups.join(',') || null,
    tag: state.tag || null,
    parent: state.parent || null,
    sort: isDefaultSort ? null : state.sort,
    dir: isDefaultSort ? null : state.dir,
    group: state.group || null,
    page: state.page > 1 ? String(state.page) : null,
  };
}

export function queryOf(state: RunsViewState): RunQuery {
  const q: RunQuery = {
    sort: state.sort,
    dir: state.dir,
    offset: (state.page - 1) * PAGE_SIZE,
    limit: PAGE_SIZE,
  };
  if (state.search.trim()) q.search = state.search.trim();
  if (state.kinds.length) q.kinds = state.kinds;
  if (state.statuses.length) q.statuses = state.statuses;
  if (state.archs.length) q.archs = state.archs;
  if (state.setups.length) q.setups = state.setups;
  if (state.tag) q.tag = state.tag;
  if (state.parent) q.parentId = state.parent;
  if (state.group) q.groupBy = state.group;
  return q;
}

/** Whether anything narrows the table (the empty state then offers to clear it rather than to start a run). */
export function isFiltered(state: RunsViewState): boolean {
  return Boolean(
    state.search.trim() ||
    state.kinds.length ||
    state.statuses.length ||
    state.archs.length ||
    state.setups.length ||
    state.tag ||
    state.parent,
  );
}

/** The same state with the filters cleared (sort and grouping kept). */
export function clearedFilters(state: RunsViewState): RunsViewState {
  return { ...DEFAULT_STATE, sort: state.sort, dir: state.dir, group: state.group };
}

/** Clicking a column header: a new column sorts descending first (best/latest on top), the same one toggles. */
export function nextSort(state: RunsViewState, key: RunSortKey): Pick<RunsViewState, 'sort' | 'dir'> {
  if (state.sort === key) return { sort: key, dir: state.dir === 'asc' ? 'desc' : 'asc' };
  const ascFirst = key === 'name' || key === 'kind' || key === 'arch' || key === 'setup' || key === 'status';
  return { sort: key, dir: ascFirst ? 'asc' : 'desc' };
}
