/** What the edge put in the dashboard's URL after a provider: `?oauth=…&vendor=…&reason=…&action=…`. */
export interface TOAuthReturn {
  outcome: string;
  vendor: string;
  reason: string | null;
  action: string | null;
}

const SUCCESS = new Set(['connected', 'reconnected', 'user_changed', 'userChanged']);

/** Refusals a user can act on, in words; any other reason is shown as its code. */
const REASON_TEXT: Record<string, string> = {
  already_connected: 'it is already connected',
  disconnect_in_progress: 'it is being disconnected right now; try again in a moment',
  connection_closed: 'the connect took too long and was abandoned; start it again',
  account_mismatch:
    'a reconnect must sign in as the same account; use Change User to switch accounts',
  tenant_mismatch: 'that account belongs to another organization at the provider',
  tenant_unknown:
    'the provider does not say which organization that account belongs to, so the user cannot be changed; disconnect and connect again instead',
};

export function isOAuthSuccess(r: TOAuthReturn): boolean {
  return SUCCESS.has(r.outcome);
}

export function oauthReturnText(name: string, r: TOAuthReturn): string {
  if (isOAuthSuccess(r)) {
    const what = r.action ?? r.outcome;
    if (what === 'reconnect' || what === 'reconnected') return `${name} is reconnected.`;
    if (what === 'changeUser' || what === 'user_changed' || what === 'userChanged')
      return `${name} is now connected with the new user.`;
    return `${name} is connected.`;
  }
  if (r.outcome === 'denied')
    return `Access to ${name} was denied at the provider. Nothing was connected.`;
  const reason = r.reason
    ? (REASON_TEXT[r.reason] ?? r.reason.replace(/[_-]+/g, ' '))
    : 'unknown reason';
  return `${name} could not be connected (${reason}).`;
}
