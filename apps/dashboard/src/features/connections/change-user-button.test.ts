import { describe, expect, it } from 'vitest';
import { changeUserHint } from './change-user-button';

describe('the hint beside Change user', () => {
  it('says the person signs in at the provider as another user, and how, naming the account connected now', () => {
    expect(changeUserHint('ServiceNow', 'alice@acme.test')).toBe(
      'Change user sends you to ServiceNow to sign in as another user of your organization there. If you are still signed in there as alice@acme.test, sign out first or use a private window: otherwise the same account signs in again.',
    );
  });

  it('still reads when the connection names no account', () => {
    expect(changeUserHint('Confluence', null)).toContain(
      'If you are still signed in there as the connected user, sign out first',
    );
  });

  it('for a provider that shows its account chooser on a change of user, says to pick the other account there', () => {
    expect(changeUserHint('Google Workspace', 'alice@acme.test', true)).toBe(
      'Change user sends you to Google Workspace, which will ask which account to use: choose another user of your organization there, not alice@acme.test.',
    );
  });
});
