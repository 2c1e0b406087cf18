import { confirmationForm } from '@otesse/testing';

/**
 * Follows an OAuth connect the way a browser does (start link on the edge, confirmed on its page → the provider's
 * authorize page →
 * the edge's callback → the dashboard), with one cookie jar per host name: like a browser, cookies ignore the
 * port, so the edge replicas on 127.0.0.1 share them as replicas behind one address would.
 */
export interface TOAuthFlowOptions {
  /** Where the edge sends the browser at the end (the dashboard: not fetched). */
  dashboardUrl: string;
  /** Log in at the fake provider as this user for this one authorization (its `login_hint`). */
  loginAs?: string;
  /** Send the provider's redirect back to this edge origin instead (a flow that ends on another replica). */
  callbackOrigin?: string;
}

export interface TOAuthFlowResult {
  /** `connected`, `reconnected`, `user_changed`, `refused:<reason>`, `failed:<reason>`, `denied`… */
  outcome: string;
  hops: string[];
}

export async function followOAuth(
  startUrl: string,
  opts: TOAuthFlowOptions,
): Promise<TOAuthFlowResult> {
  const jar = new Map<string, Map<string, string>>();
  const cookiesOf = (host: string): Map<string, string> => {
    let m = jar.get(host);
    if (!m) jar.set(host, (m = new Map()));
    return m;
  };
  const hops: string[] = [];
  let next = new URL(startUrl);
  /** The start link's confirmation form, once its page was shown: submitted as the next request. */
  let submit: Record<string, string> | undefined;
  for (let i = 0; i < 8; i += 1) {
    hops.push(next.toString());
    const cookies = cookiesOf(next.hostname);
    const cookie = cookies.size
      ? { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') }
      : {};
    const res = await fetch(
      next,
      submit
        ? {
            method: 'POST',
            redirect: 'manual',
            headers: {
              ...cookie,
              'content-type': 'application/x-www-form-urlencoded',
              origin: next.origin,
            },
            body: new URLSearchParams(submit).toString(),
          }
        : { redirect: 'manual', headers: cookie },
    );
    submit = undefined;
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const [name, ...value] = (pair ?? '').trim().split('=');
      if (!name) continue;
      if (attrs.some((a) => a.trim().toLowerCase() === 'max-age=0')) cookies.delete(name);
      else cookies.set(name, value.join('='));
    }
    const location = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !location) {
      const body = await res.text();
      const form = res.status === 200 ? confirmationForm(body, next.toString()) : undefined;
      if (form && !hops.slice(0, -1).some((h) => h === form.action)) {
        // The person confirms the link is theirs (Continue).
        submit = form.fields;
        next = new URL(form.action);
        continue;
      }
      const reason = /data-reason="([^"]+)"/.exec(body)?.[1];
      return { outcome: `failed:${reason ?? `http_${res.status}`}`, hops };
    }
    await res.body?.cancel();
    const target = new URL(location, next);
    if (target.toString().startsWith(opts.dashboardUrl)) {
      const p = target.searchParams;
      const reason = p.get('reason');
      return { outcome: `${p.get('oauth') ?? 'unknown'}${reason ? `:${reason}` : ''}`, hops };
    }
    if (target.pathname.endsWith('/oauth/authorize') && opts.loginAs)
      target.searchParams.set('login_hint', opts.loginAs);
    if (opts.callbackOrigin && /^\/connect\/[^/]+\/callback$/.test(target.pathname)) {
      const moved = new URL(target.pathname + target.search, opts.callbackOrigin);
      next = moved;
      continue;
    }
    next = target;
  }
  throw new Error(`too many redirects: ${hops.join(' → ')}`);
}
