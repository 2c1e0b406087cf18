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
   * Follows redirects until a response is not a redirect or the next hop leaves for `stopAt` (e.g. the
   * dashboard, which the test does not run). Returns every hop.
   */
  async follow(
    url: string,
    opts: { stopAt?: string; maxHops?: number } = {},
  ): Promise<{ hops: string[]; final: Response; stoppedAt?: string }> {
    const hops: string[] = [];
    let next = url;
    for (let i = 0; i < (opts.maxHops ?? 10); i++) {
      hops.push(next);
      const res = await this.get(next);
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
