import { describe, expect, it } from 'vitest';
import type { TConnectionView } from '../../trpc/router-types';
import { connectionSummary } from './integration-status';

const view = (over: Partial<TConnectionView>): TConnectionView =>
  ({
    id: 'c1',
    level: 'app',
    accountLabel: null,
    externalAccountId: null,
    senderEmails: [],
    ...over,
  }) as TConnectionView;

describe("a catalogue card's line about a connection", () => {
  it('says which account it is connected as, not that an email is an organization', () => {
    expect(connectionSummary(view({ accountLabel: 'alice@acme.test' }))).toEqual({
      label: 'Connected as',
      value: 'alice@acme.test',
      whose: 'organization',
    });
    expect(connectionSummary(view({ level: 'user', externalAccountId: 'u-bob' }))).toEqual({
      label: 'Connected as',
      value: 'u-bob',
      whose: 'your own',
    });
  });

  it('lists an API-key provider’s senders as senders', () => {
    expect(
      connectionSummary(view({ senderEmails: ['billing@acme.test', 'support@acme.test'] })),
    ).toEqual({ label: 'Senders', value: 'billing@acme.test +1 more', whose: 'organization' });
    expect(connectionSummary(view({}))).toMatchObject({
      label: 'Connected with',
      value: 'an API key',
    });
  });
});
