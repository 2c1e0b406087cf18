import { routeFromHash } from './app-routes';

const KEY = 'otesse.oauthReturnTo';

/**
 * Where the browser lands after a provider: the edge redirects to the dashboard's root with `?oauth=…` (it knows
 * no screen), so the screen a Connect, Reconnect or Change user started from is remembered in this tab before it
 * leaves. Only a route id of this dashboard is ever kept or restored (`routeFromHash` knows no other), so it can
 * send nobody anywhere else.
 */
export function rememberOAuthReturnRoute(hash: string = window.location.hash): void {
  try {
    window.sessionStorage.setItem(KEY, routeFromHash(hash));
  } catch {
    // No storage (private mode): the user comes back to All Integrations, as before.
  }
}

/** The hash to land on: the remembered screen, when this load is a return from a provider that named none. */
export function oauthReturnHash(
  search: string,
  hash: string,
  remembered: string | null,
): string | null {
  if (!remembered || !new URLSearchParams(search).has('oauth')) return null;
  if (hash.replace(/^#\/?/, '') !== '') return null;
  return `#/${routeFromHash(`#/${remembered}`)}`;
}

/** Run once before the first render, so the screen (and its one-time OAuth banner) is the right one from the start. */
export function restoreOAuthReturnRoute(): void {
  let remembered: string | null = null;
  try {
    remembered = window.sessionStorage.getItem(KEY);
    if (new URLSearchParams(window.location.search).has('oauth'))
      window.sessionStorage.removeItem(KEY);
  } catch {
    return;
  }
  const hash = oauthReturnHash(window.location.search, window.location.hash, remembered);
  if (hash)
    window.history.replaceState(
      null,
      '',
      `${window.location.pathname}${window.location.search}${hash}`,
    );
}
