/**
 * Hash routes (pure parsing and link building; the live router is router.svelte.ts): every view is a link a researcher can bookmark, paste and reload. `#/runs`, `#/runs/<id>`,
 * `#/new`, `#/compare?runs=a,b`, `#/reproduce?run=…`, `#/circuit?run=…&pair=…`, `#/latent?run=…&hook=…&id=…`, `#/models`, `#/system`, `#/example` (the example project).
 * Back/forward work because the state is the URL and nothing else.
 */

export type ViewName =
  | 'runs'
  | 'run'
  | 'new'
  | 'compare'
  | 'circuit'
  | 'latent'
  | 'models'
  | 'system'
  | 'reproduce'
  | 'example'
  | 'not-found';

export interface Route {
  view: ViewName;
  /** Path segments after the view name, e.g. the run id of `#/runs/<id>`. */
  segments: string[];
  params: URLSearchParams;
  /** The hash without '#', e.g. `/runs?kind=sae`. */
  raw: string;
}

const VIEWS: Record<string, ViewName> = {
  runs: 'runs',
  new: 'new',
  compare: 'compare',
  circuit: 'circuit',
  latent: 'latent',
  latents: 'latent',
  models: 'models',
  system: 'system',
  reproduce: 'reproduce',
  example: 'example',
};

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#/, '') || '/runs';
  const [pathPart, query = ''] = raw.split('?', 2);
  const segments = pathPart.split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query);
  const head = segments[0] ?? 'runs';
  let view: ViewName = VIEWS[head] ?? 'not-found';
  if (view === 'runs' && segments.length > 1) view = 'run';
  return { view, segments: segments.slice(1), params, raw };
}

/** `href('/runs', {kind: 'sae'})` → `#/runs?kind=sae` (empty values are left out). */
export function href(path: string, params: Record<string, string | number | null | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  const query = q.toString();
  return `#${path}${query ? `?${query}` : ''}`;
}

export function runHref(id: string): string {
  return `#/runs/${encodeURIComponent(id)}`;
}
