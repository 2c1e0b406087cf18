import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { TPendingSummary } from './pending-authorizations';

/** The confirmation form's anti-CSRF cookie: a random value the page's signed field is bound to. */
export const CONFIRM_COOKIE = 'otesse_oauth_confirm';
export const CONFIRM_FIELD = 'confirm';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE =
  'body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2433}' +
  'main{max-width:32rem;margin:10vh auto;background:#fff;border:1px solid #d8dce3;border-radius:8px;padding:2rem}' +
  'h1{font-size:1.3rem;margin:0 0 1rem}p{margin:0 0 1rem}.warn{color:#7a4b00}' +
  '.actions{display:flex;gap:1rem;align-items:center}' +
  'button{font:inherit;padding:.5rem 1.2rem;border:0;border-radius:6px;background:#2452c6;color:#fff;cursor:pointer}';

/**
 * Nothing but the page's own inline style loads; no script at all; never framed (clickjacking: the Continue button
 * must be clicked knowingly); no address (with its start key) leaves in a Referer for another origin. Not
 * `no-referrer`: under it a browser sends its own form's POST with `Origin: null`.
 */
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy':
    `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; ` +
    `base-uri 'none'; frame-ancestors 'none'`,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
} as const;

/** The refusal pages carry the same headers (minus the style they do not have). */
export const REFUSAL_HEADERS = {
  ...PAGE_HEADERS,
  'content-security-policy': "default-src 'none'; base-uri 'none'; frame-ancestors 'none'",
} as const;

/**
 * Signs and checks the confirmation field: an HMAC of the start key's hash and the browser's confirm cookie, so a
 * field is good only for this link in the browser the page was shown to (a double submit whose value cannot be
 * forged without the edge's secret).
 */
export class ConfirmationSigner {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = createHmac('sha256', secret).update('otesse/connect-start-confirmation').digest();
  }

  sign(startKey: string, nonce: string): string {
    return createHmac('sha256', this.key)
      .update(createHash('sha256').update(startKey).digest('hex'))
      .update(':')
      .update(nonce)
      .digest('base64url');
  }

  verify(startKey: string, nonce: string | undefined, field: string | null): boolean {
    if (!nonce || !field) return false;
    const expected = Buffer.from(this.sign(startKey, nonce));
    const given = Buffer.from(field);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

export function newConfirmNonce(): string {
  return randomBytes(24).toString('base64url');
}

/** HttpOnly, SameSite=Strict: sent only with the page's own same-site POST, readable by no script. */
export function confirmCookie(nonce: string, opts: { secure: boolean; maxAgeSec: number }): string {
  return [
    `${CONFIRM_COOKIE}=${nonce}`,
    'Path=/connect/start',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${opts.maxAgeSec}`,
    ...(opts.secure ? ['Secure'] : []),
  ].join('; ');
}

const VERB = { connect: 'Connect', reconnect: 'Reconnect', changeUser: 'Change the user of' };

/**
 * "Connect <Provider> to <org> as <user>": the link's owner named before anything starts, so a person who was sent
 * someone else's link sees that it is not theirs. Continue posts the form back here; Cancel goes to the dashboard.
 */
export function sendConfirmationPage(
  res: ServerResponse,
  p: {
    summary: TPendingSummary;
    providerName: string;
    formAction: string;
    field: string;
    cookie: string;
    dashboardUrl: string;
  },
): void {
  const { summary } = p;
  const user =
    summary.userName && summary.userEmail
      ? `${summary.userName} (${summary.userEmail})`
      : (summary.userEmail ?? summary.userName ?? 'an unknown user');
  const org = summary.orgName ?? 'an unknown organization';
  const verb = VERB[summary.action ?? 'connect'];
  const scope =
    summary.flow === 'app' ? 'as the organization-wide connection' : 'as their personal connection';
  const e = escapeHtml;
  res.writeHead(200, { ...PAGE_HEADERS, 'set-cookie': p.cookie });
  res.end(
    `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
      `<meta name="viewport" content="width=device-width,initial-scale=1">` +
      `<title>${e(verb)} ${e(p.providerName)}?</title><style>${STYLE}</style></head><body><main>` +
      `<h1>${e(verb)} ${e(p.providerName)}?</h1>` +
      `<p data-summary>${e(verb)} <strong>${e(p.providerName)}</strong> to <strong data-org>${e(org)}</strong> ` +
      `as <strong data-user>${e(user)}</strong>, ${e(scope)}.</p>` +
      `<p class="warn">Continue only if you asked for this in Otesse yourself. If someone sent you this link, ` +
      `cancel: the account you authorize would be connected for them.</p>` +
      `<form method="post" action="${e(p.formAction)}" data-otesse-confirm>` +
      `<input type="hidden" name="${CONFIRM_FIELD}" value="${e(p.field)}">` +
      `<div class="actions"><button type="submit">Continue to ${e(p.providerName)}</button>` +
      `<a href="${e(p.dashboardUrl)}">Cancel</a></div></form></main></body></html>`,
  );
}
