import { describe, expect, it } from 'vitest';
import {
  isSameAccountChange,
  oauthReturnText,
  parseSameAccount,
  parseSiteChoice,
  siteAdvice,
} from './oauth-return-text';

const back = (outcome: string, reason: string | null = null, action: string | null = null) => ({
  outcome,
  vendor: 'servicenow',
  reason,
  action,
});

describe('the banner after a provider', () => {
  it('says what succeeded', () => {
    expect(oauthReturnText('ServiceNow', back('connected'))).toBe('ServiceNow is connected.');
    expect(oauthReturnText('ServiceNow', back('reconnected'))).toBe('ServiceNow is reconnected.');
  });

  it('says whom a change of user connected, and when the same account signed in, that nothing switched', () => {
    const changed = { ...back('user_changed', null, 'changeUser'), flow: 'app' as const };
    expect(
      oauthReturnText('ServiceNow', { ...changed, sameAccount: false, account: 'bob@acme.test' }),
    ).toBe('ServiceNow is now connected as bob@acme.test.');
    const same = { ...changed, sameAccount: true, account: 'alice@acme.test' };
    expect(oauthReturnText('ServiceNow', same)).toBe(
      'You signed in to ServiceNow as the same account (alice@acme.test), so the connected user did not change. To switch, choose Change user again and sign in as the other account: sign out of ServiceNow first, or use a private window.',
    );
    expect(isSameAccountChange(same)).toBe(true);
    expect(isSameAccountChange({ ...same, sameAccount: false })).toBe(false);
    expect(
      isSameAccountChange({ ...back('refused', 'busy', 'changeUser'), sameAccount: true }),
    ).toBe(false);
    // The list of connections could not be read: still no claim of a switch the edge did not report.
    expect(oauthReturnText('ServiceNow', { ...changed, sameAccount: true })).toMatch(
      /^You signed in to ServiceNow as the same account, so the connected user did not change\./,
    );
    expect(oauthReturnText('ServiceNow', { ...changed, sameAccount: false })).toBe(
      'ServiceNow is now connected with the new user.',
    );
    // An edge that did not say which account signed in.
    expect(oauthReturnText('ServiceNow', back('user_changed', null, 'changeUser'))).toBe(
      'The change of user of ServiceNow is done: its card on the Connections page shows the account now connected.',
    );
  });

  it('reads the edge’s sameAccount parameter as 1 or 0 only', () => {
    expect(parseSameAccount('1')).toBe(true);
    expect(parseSameAccount('0')).toBe(false);
    expect(parseSameAccount('true')).toBeNull();
    expect(parseSameAccount(null)).toBeNull();
  });

  it('explains the refusals a user can act on, and names any other reason', () => {
    expect(oauthReturnText('ServiceNow', back('failed', 'disconnect_in_progress'))).toBe(
      'ServiceNow could not be connected (it is being disconnected right now; try again in a moment).',
    );
    expect(oauthReturnText('ServiceNow', back('failed', 'already_connected'))).toBe(
      'ServiceNow could not be connected (it is already connected).',
    );
    expect(oauthReturnText('ServiceNow', back('failed', 'not_pending'))).toBe(
      'ServiceNow could not be connected (the connect was given up before it finished: it was cancelled, or took too long; start it again).',
    );
    expect(oauthReturnText('ServiceNow', back('failed', 'connect_in_progress'))).toBe(
      'ServiceNow could not be connected (another connect of it has not finished; if it was interrupted, cancel it on the Connections page, or try again in two minutes).',
    );
    expect(
      oauthReturnText('Google Workspace', back('refused', 'tenant_unknown', 'changeUser')),
    ).toBe(
      'The user of Google Workspace could not be changed (the provider does not say which organization that account belongs to, so the user cannot be changed; disconnect and connect again instead).',
    );
    expect(oauthReturnText('ServiceNow', back('refused', 'account_mismatch', 'reconnect'))).toBe(
      'ServiceNow could not be reconnected (a reconnect must sign in as the same account; use Change User to switch accounts).',
    );
    expect(oauthReturnText('ServiceNow', back('denied', null, 'changeUser'))).toBe(
      'Access to ServiceNow was denied at the provider. Nothing was changed.',
    );
    expect(oauthReturnText('ServiceNow', back('failed', 'http_500'))).toBe(
      'ServiceNow could not be connected (http 500).',
    );
    expect(oauthReturnText('ServiceNow', back('failed'))).toBe(
      'ServiceNow could not be connected (unknown reason).',
    );
    expect(oauthReturnText('ServiceNow', back('refused', 'stopped_part_way', 'changeUser'))).toBe(
      'The change of user of ServiceNow stopped part-way, after the new sign-in was stored. Resume it from its card on the Connections page.',
    );
    expect(oauthReturnText('ServiceNow', back('refused', 'still_running', 'reconnect'))).toBe(
      'The reconnect of ServiceNow is still finishing; its card on the Connections page shows when it is done.',
    );
    expect(oauthReturnText('ServiceNow', back('denied'))).toBe(
      'Access to ServiceNow was denied at the provider. Nothing was connected.',
    );
  });

  it('words the edge’s other refusals with a next step, never as a raw code', () => {
    const reasons = [
      'disconnecting',
      'locked',
      'busy',
      'not_connected',
      'account_changed',
      'slot_mismatch',
      'authorization_lost',
      'token_exchange_failed',
      'identity_unreachable',
      'identity_failed',
      'identity_missing',
      'UNAVAILABLE',
      'TIMEOUT',
      'PROVIDER_ERROR',
      'internal',
    ];
    for (const reason of reasons) {
      const text = oauthReturnText('Jira', back('refused', reason, 'reconnect'));
      expect(text).toMatch(/^Jira could not be reconnected \(.+; .+\)\.$/);
      expect(text).not.toContain(reason);
    }
    expect(oauthReturnText('Jira', back('refused', 'disconnecting'))).toBe(
      'Jira could not be connected (it is being disconnected; once the disconnect has finished, connect it again from All Integrations).',
    );
    expect(oauthReturnText('Jira', back('failed', 'internal'))).toBe(
      'Jira could not be connected (something went wrong on Otesse’s side and nothing was changed; try again, and if it keeps failing, contact support).',
    );
  });

  it('says a passing condition on our side is worth another try', () => {
    expect(oauthReturnText('HubSpot', back('failed', 'database_unavailable'))).toBe(
      'HubSpot could not be connected (Otesse could not reach its database for a moment; connect again).',
    );
    expect(oauthReturnText('HubSpot', back('failed', 'no_responders'))).toBe(
      "HubSpot could not be connected (one of Otesse's services was restarting; connect again in a moment).",
    );
  });

  it('explains a site refusal and tells an admin and a member what to do next', () => {
    const choice = back('refused', 'site_choice_required');
    expect(oauthReturnText('Confluence', choice)).toBe(
      'Confluence could not be connected (that account reaches several sites and none is chosen for your organization yet).',
    );
    expect(siteAdvice(choice, true)).toBe(
      'Choose the site your organization uses; you connect again on it.',
    );
    expect(siteAdvice(choice, false)).toBe(
      'Ask an admin to choose the site your organization uses, then connect again.',
    );
    const unreachable = back('refused', 'site_not_reachable');
    expect(oauthReturnText('Confluence', unreachable)).toBe(
      "Confluence could not be connected (that account cannot reach your organization's site).",
    );
    expect(siteAdvice(unreachable, false)).toBe(
      'Sign in with an account of that site, or ask an admin.',
    );
    expect(siteAdvice(back('refused', 'tenant_mismatch'), true)).toBeNull();
  });

  it('reads the site choice from the URL as an id only: sites in the URL are never read', () => {
    const id = '0b6f2a4e-8c1d-4e5f-9a7b-3c2d1e0f9a8b';
    expect(parseSiteChoice(id)).toBe(id);
    expect(parseSiteChoice('[{"id":"acme","name":"Acme"}]')).toBeNull();
    expect(parseSiteChoice('../integrations')).toBeNull();
    expect(parseSiteChoice(null)).toBeNull();
  });
});
