/**
 * The live router: the current route as state, kept in step with the URL's hash. Parsing and link building are
 * in routes.ts (re-exported here so views import one module).
 */
import { href, parseHash, type Route } from './routes.ts';

export * from './routes.ts';

class Router {
  route = $state<Route>(parseHash(typeof location === 'undefined' ? '' : location.hash));

  constructor() {
    if (typeof window === 'undefined') return;
    window.addEventListener('hashchange', () => (this.route = parseHash(location.hash)));
  }

  /** A new history entry (back returns here). */
  go(target: string): void {
    location.hash = target.replace(/^#/, '');
  }

  /**
   * Updates the current view's query without a new history entry: filters and selections typed into a view
   * stay in the URL (reload keeps them) without flooding back/forward.
   */
  replaceParams(params: Record<string, string | number | null | undefined>): void {
    const path = `/${[this.routeHead(), ...this.route.segments.map(encodeURIComponent)].join('/')}`;
    const next = href(path, params);
    if (next === `#${this.route.raw}`) return;
    history.replaceState(history.state, '', next);
    this.route = parseHash(next);
  }

  private routeHead(): string {
    return this.route.raw.replace(/^\//, '').split(/[/?]/, 1)[0] || 'runs';
  }
}

export const router = new Router();
