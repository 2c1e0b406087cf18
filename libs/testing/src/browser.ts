/** Decodes the entities the edge's pages escape with (`&#NN;`) and the usual named ones. */
function unescapeHtml(s: string): string {
  return s
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/**
 * The edge's connect confirmation form (`<form data-otesse-confirm>` on `GET /connect/start/:key`) in a page:
 * where it posts (absolute) and its hidden fields; undefined when the page has none.
 */
export function confirmationForm(
  html: string,
  pageUrl: string,
): { action: string; fields: Record<string, string> } | undefined {
  const form = /<form\b[^>]*\bdata-otesse-confirm\b[^>]*>([\s\S]*?)<\/form>/.exec(html);
  if (!form) return undefined;
  const action = /\baction="([^"]*)"/.exec(form[0])?.[1];
  const fields: Record<string, string> = {};
  for (const input of form[1]!.matchAll(/<input\b[^>]*>/g)) {
    const name = /\bname="([^"]*)"/.exec(input[0])?.[1];
    const value = /\bvalue="([^"]*)"/.exec(input[0])?.[1];
    if (name) fields[unescapeHtml(name)] = unescapeHtml(value ?? '');
  }
  return { action: new URL(unescapeHtml(action ?? ''), pageUrl).toString(), fields };
}

/**
 * A minimal browser for OAuth tests: a cookie jar per host and manual redirect following, so tests go through the
 * edge and the provider exactly as a browser would (and can drop cookies to play "another browser").
 */
export class TestBrowser {
  private readonly jar = new Map<string, Map<string, string>>();

  cookies(host: string): Map<string, string> {
    let m = this.jar.get(host);
    if (!m) {
      m = new Map();
      this.jar.set(host, m);
    }
    return m;
  }

  clearCookies(): void {
    this.jar.clear();
  }

  private store(url: URL, res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const [name, ...v] = (pair ?? '').trim().split('=');
      if (!name) continue;
      const maxAge = attrs.map((a) => a.trim().toLowerCase()).find((a) => a.startsWith('max-age='));
      if (maxAge === 'max-age=0') this.cookies(url.host).delete(name);
      else this.cookies(url.host).set(name, v.join('='));
    }
  }

  async get(url: string): Promise<Response> {
    const u = new URL(url);
    const cookie = [...this.cookies(u.host)].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(u, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    this.store(u, res);
    return res;
  }

  /**
   * A form's POST (application/x-www-form-urlencoded) as a browser submits it: its cookies, and `Origin` the
   * origin of the page the form is on (`from`; default the target's own, a same-origin form).
   */
  async post(url: string, fields: Record<string, string> = {}, from?: string): Promise<Response> {
    const u = new URL(url);
    const cookie = [...this.cookies(u.host)].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(u, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: new URL(from ?? url).origin,
        ...(cookie ? { cookie } : {}),
      },
      body: new URLSearchParams(fields).toString(),
    });
    this.store(u, res);
    return res;
  }

  /**
   * Follows redirects until a response is not a redirect or the next hop leaves for `stopAt` (e.g. the
   * dashboard, which the test does not run). Returns every hop. The edge's connect confirmation page is
   * confirmed (its Continue submitted, as the person the link was made for would) unless `confirm` is false.
   */
  async follow(
    url: string,
    opts: { stopAt?: string; maxHops?: number; confirm?: boolean } = {},
  ): Promise<{ hops: string[]; final: Response; stoppedAt?: string }> {
    const hops: string[] = [];
    let next = url;
    let confirmed = false;
    for (let i = 0; i < (opts.maxHops ?? 10); i++) {
      hops.push(next);
      let res = await this.get(next);
      if (res.status === 200 && opts.confirm !== false && !confirmed) {
        const form = confirmationForm(await res.clone().text(), next);
        if (form) {
          confirmed = true;
          res = await this.post(form.action, form.fields, next);
          next = form.action;
        }
      }
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !location) return { hops, final: res };
      const target = new URL(location, next).toString();
      if (opts.stopAt && target.startsWith(opts.stopAt))
        return { hops, final: res, stoppedAt: target };
      next = target;
    }
    throw new Error(`too many redirects: ${hops.join(' → ')}`);
  }
}
