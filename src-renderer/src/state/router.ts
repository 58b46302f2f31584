/**
 * A URL per view, in the fragment so that it works from the web host, from a file:// page in
 * Electron and through a reload alike: `#/overview`, `#/connections`, `#/connections/<token>`
 * (the token as `ss` prints it), `#/events?kind=sub_closed&conn=ab12`. The page's filters are the
 * query. The web host's access token stays in the real query (`?token=`), untouched.
 *
 * The stores stay the source of truth while the page runs: a change of page or connection adds a
 * history entry (Back and Forward walk them), a change of filter replaces the current one (typing
 * a filter should not take twenty Back presses to undo).
 */
import { PAGE_NAMES, cleanParams, type PageName, type PageParams, type UiStore } from './ui-store';
import type { MonitorStore } from './monitor/monitor-store';

export interface Route {
  page: PageName;
  /** The connection shown in detail (Connections page only). */
  token: number | null;
  params: PageParams;
}

const PAGES: ReadonlySet<string> = new Set(PAGE_NAMES);
/** mptcpi_token is a u32: up to 8 hex digits. */
const TOKEN_RE = /^[0-9a-f]{1,8}$/i;

/** The route in `hash` (`#/connections/ab12?x=y`), or null when it names no view. */
export function parseRoute(hash: string): Route | null {
  const body = hash.replace(/^#/, '');
  const q = body.indexOf('?');
  const path = q === -1 ? body : body.slice(0, q);
  const query = q === -1 ? '' : body.slice(q + 1);
  const parts = path.split('/').filter((p) => p !== '');
  const [page, token, ...rest] = parts;
  if (page === undefined || !PAGES.has(page) || rest.length > 0) return null;
  if (token !== undefined && (page !== 'connections' || !TOKEN_RE.test(token))) return null;
  const params: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(query)) params[k] = v;
  return {
    page: page as PageName,
    token: token === undefined ? null : parseInt(token, 16),
    params: cleanParams(params),
  };
}

const queryOf = (params: PageParams): string => new URLSearchParams(Object.entries(params)).toString();

/** `#/connections/ab12?filter=10.0.0` for the route. */
export function routeHash(route: Route): string {
  const token = route.page === 'connections' && route.token !== null ? `/${route.token.toString(16)}` : '';
  const query = queryOf(route.params);
  return `#/${route.page}${token}${query ? `?${query}` : ''}`;
}

/** What the browser needs of a window (a test passes jsdom's). */
export type RouterWindow = Pick<Window, 'location' | 'history' | 'addEventListener' | 'removeEventListener'>;

/**
 * Keep the URL and the stores in step; returns the function that stops it. The URL the page was
 * opened with wins at start (a deep link or a reload); an address that names no view is replaced
 * by the Overview's.
 */
export function bindHashRouter(
  stores: { ui: UiStore; monitor: MonitorStore },
  win: RouterWindow,
): () => void {
  const { ui, monitor } = stores;
  const current = (): Route => {
    const { page, params } = ui.getState();
    return { page, token: page === 'connections' ? monitor.getState().selectedToken : null, params };
  };
  let applying = false;

  const apply = (route: Route): void => {
    applying = true;
    try {
      const s = ui.getState();
      if (s.page !== route.page || queryOf(s.params) !== queryOf(route.params))
        ui.setState({ page: route.page, params: route.params });
      if (route.page === 'connections' && monitor.getState().selectedToken !== route.token)
        monitor.getState().select(route.token);
    } finally {
      applying = false;
    }
  };

  const fromUrl = (): void => {
    const route = parseRoute(win.location.hash);
    if (route) apply(route);
    else apply({ page: 'overview', token: null, params: {} });
    const canonical = routeHash(current());
    if (canonical !== win.location.hash) win.history.replaceState(win.history.state, '', canonical);
  };

  let last = current();
  const toUrl = (): void => {
    if (applying) {
      last = current();
      return;
    }
    const next = current();
    const hash = routeHash(next);
    if (hash === win.location.hash) {
      last = next;
      return;
    }
    // A new view is a new history entry; a filter edited on the same view is not.
    const sameView = next.page === last.page && next.token === last.token;
    if (sameView) win.history.replaceState(win.history.state, '', hash);
    else win.history.pushState(null, '', hash);
    last = next;
  };

  fromUrl();
  last = current();
  const offUi = ui.subscribe(toUrl);
  const offMonitor = monitor.subscribe((s, prev) => {
    if (s.selectedToken !== prev.selectedToken) toUrl();
  });
  const onNavigate = (): void => {
    fromUrl();
    last = current();
  };
  // Back and Forward fire popstate; an edited address bar or a followed link fires hashchange.
  win.addEventListener('popstate', onNavigate);
  win.addEventListener('hashchange', onNavigate);
  return () => {
    offUi();
    offMonitor();
    win.removeEventListener('popstate', onNavigate);
    win.removeEventListener('hashchange', onNavigate);
  };
}
