/**
 * What the edge put in the dashboard's URL after a provider: `?oauth=…&vendor=…&reason=…&action=…`, and after a
 * site refusal the connect's `flow` and `siteChoice`, the id under which the edge keeps the sites the account
 * reaches (`integrations.siteChoice`). The sites themselves never travel in the URL: a crafted link could name any.
 */
export interface TOAuthReturn {
  outcome: string;
  vendor: string;
  reason: string | null;
  action: string | null;
  flow?: 'app' | 'user' | null;
  siteChoice?: string | null;
  /**
   * After a change of user, whether the provider signed in the account the connection already had (`sameAccount`:
   * true, false, or null when the edge did not say), and the account now connected as the dashboard's own list
   * names it (never read from the URL).
   */
  sameAccount?: boolean | null;
  account?: string | null;
}

/** The `sameAccount` parameter: `1` / `0`, anything else unknown. */
export function parseSameAccount(raw: string | null): boolean | null {
  return raw === '1' ? true : raw === '0' ? false : null;
}

/** Refusals an admin resolves by choosing the instance's site among those the account reaches. */
export const SITE_REASONS: ReadonlySet<string> = new Set([
  'site_choice_required',
  'site_not_reachable',
]);

/** The `siteChoice` parameter when it is an id at all (the URL is the user's to edit); else null. */
export function parseSiteChoice(raw: string | null): string | null {
  return raw && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(raw)
    ? raw
    : null;
}

const SUCCESS = new Set(['connected', 'reconnected', 'user_changed', 'userChanged']);

/** Refusals a user can act on, in words; any other reason is shown as its code. */
const REASON_TEXT: Record<string, string> = {
  already_connected: 'it is already connected',
  connect_in_progress:
    'another connect of it has not finished; if it was interrupted, cancel it on the Connections page, or try again in two minutes',
  disconnect_in_progress: 'it is being disconnected right now; try again in a moment',
  connection_closed: 'the connect took too long and was abandoned; start it again',
  // Its activation found the connection no longer pending: cancelled on the Connections page, or given up as stale.
  not_pending:
    'the connect was given up before it finished: it was cancelled, or took too long; start it again',
  account_mismatch:
    'a reconnect must sign in as the same account; use Change User to switch accounts',
  tenant_mismatch:
    'that account belongs to another organization at the provider than the one this integration is linked to; sign in with an account of that organization',
  tenant_unknown:
    'the provider does not say which organization that account belongs to, so the user cannot be changed; disconnect and connect again instead',
  site_choice_required:
    'that account reaches several sites and none is chosen for your organization yet',
  site_not_reachable: "that account cannot reach your organization's site",
  // Passing conditions on Otesse's side: nothing was connected, and the same connect works a moment later.
  database_unavailable: 'Otesse could not reach its database for a moment; connect again',
  no_responders: "one of Otesse's services was restarting; connect again in a moment",
  timeout: "one of Otesse's services took too long to answer; connect again",
  // A disconnect or another reconnect holds the connection (the connection service's refusals).
  disconnecting:
    'it is being disconnected; once the disconnect has finished, connect it again from All Integrations',
  locked:
    'another reconnect or change of user of this connection is in progress; wait for it to finish (its card on the Connections page shows it), then try again',
  busy: 'another operation on this connection is in progress; wait for it to finish (its card on the Connections page shows it), then try again',
  not_connected:
    'the connection is no longer connected (it was disconnected meanwhile); connect it again instead',
  account_changed:
    'the connection’s account was changed by someone else meanwhile; try again to authorize against the new account',
  slot_mismatch:
    'the sign-in was for another kind of connection (organization or personal) than the one to reconnect; start again from its card',
  authorization_lost: 'the new sign-in expired before it could be stored; try again',
  // The provider's side: nothing was changed.
  token_exchange_failed:
    'the provider did not accept the sign-in (its code could not be exchanged for tokens); try again, and if it keeps failing, check the provider’s app settings',
  identity_unreachable:
    'the provider could not be reached to read which account signed in; try again in a moment',
  identity_failed: 'the provider would not say which account signed in; try again',
  identity_missing: 'the provider did not say which account signed in; try again',
  UNAVAILABLE:
    'the provider or one of Otesse’s services is unavailable right now; try again in a moment',
  TIMEOUT: 'the provider or one of Otesse’s services took too long to answer; try again',
  PROVIDER_ERROR:
    'the provider answered with an error; try again, and if it keeps failing, check its status',
  internal:
    'something went wrong on Otesse’s side and nothing was changed; try again, and if it keeps failing, contact support',
};

/** What to do next about a site refusal: an admin picks a site below, anyone else asks one. */
export function siteAdvice(r: TOAuthReturn, canChoose: boolean): string | null {
  if (!r.reason || !SITE_REASONS.has(r.reason)) return null;
  if (r.reason === 'site_choice_required')
    return canChoose
      ? 'Choose the site your organization uses; you connect again on it.'
      : 'Ask an admin to choose the site your organization uses, then connect again.';
  return canChoose
    ? 'Sign in with an account of that site, or, while nothing is connected, choose another site for your organization.'
    : 'Sign in with an account of that site, or ask an admin.';
}

export function isOAuthSuccess(r: TOAuthReturn): boolean {
  return SUCCESS.has(r.outcome);
}

const isChangeUser = (r: TOAuthReturn): boolean => {
  const what = r.action ?? r.outcome;
  return what === 'changeUser' || what === 'user_changed' || what === 'userChanged';
};

/** A change of user that signed in the account already connected: it went through, but switched nobody. */
export function isSameAccountChange(r: TOAuthReturn): boolean {
  return isOAuthSuccess(r) && isChangeUser(r) && r.sameAccount === true;
}

/** A change of user whose banner names the account now connected: the list of connections is read for it. */
export function needsAccountName(r: TOAuthReturn): boolean {
  return isOAuthSuccess(r) && isChangeUser(r) && !!r.flow;
}

export function oauthReturnText(name: string, r: TOAuthReturn): string {
  if (isOAuthSuccess(r)) {
    const what = r.action ?? r.outcome;
    if (what === 'reconnect' || what === 'reconnected') return `${name} is reconnected.`;
    if (isChangeUser(r)) return changeUserText(name, r);
    return `${name} is connected.`;
  }
  // Not refusals: past its point of no return (the new sign-in is stored), still finishing or waiting for a resume.
  if (r.reason === 'stopped_part_way' || r.reason === 'still_running') {
    const what = r.action === 'changeUser' ? 'The change of user' : 'The reconnect';
    return r.reason === 'stopped_part_way'
      ? `${what} of ${name} stopped part-way, after the new sign-in was stored. Resume it from its card on the Connections page.`
      : `${what} of ${name} is still finishing; its card on the Connections page shows when it is done.`;
  }
  if (r.outcome === 'denied')
    return `Access to ${name} was denied at the provider. Nothing was ${r.action ? 'changed' : 'connected'}.`;
  const reason = r.reason
    ? (REASON_TEXT[r.reason] ?? r.reason.replace(/[_-]+/g, ' '))
    : 'unknown reason';
  if (r.action === 'reconnect') return `${name} could not be reconnected (${reason}).`;
  if (r.action === 'changeUser') return `The user of ${name} could not be changed (${reason}).`;
  return `${name} could not be connected (${reason}).`;
}

/**
 * A completed change of user, as checked: the provider may well have signed in the account already connected (a
 * browser still signed in there as that user is not asked again), and then nothing was switched.
 */
function changeUserText(name: string, r: TOAuthReturn): string {
  const account = r.account ?? null;
  if (r.sameAccount === true)
    return `You signed in to ${name} as the same account${account ? ` (${account})` : ''}, so the connected user did not change. To switch, choose Change user again and sign in as the other account: sign out of ${name} first, or use a private window.`;
  if (account) return `${name} is now connected as ${account}.`;
  if (r.sameAccount === false) return `${name} is now connected with the new user.`;
  // The edge did not say which account signed in: claim no switch.
  return `The change of user of ${name} is done: its card on the Connections page shows the account now connected.`;
}
