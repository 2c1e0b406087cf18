import { describe, expect, it } from 'vitest';
import { disconnectTitle, instanceNote, NO_KEEPERS, type TKeepers } from './disconnect-texts';

const keepers = (k: Partial<TKeepers>): TKeepers => ({ ...NO_KEEPERS, ...k });

describe("the disconnect dialog's note on the instance", () => {
  it('says the instance goes when nothing else keeps it', () => {
    expect(instanceNote('ServiceNow', NO_KEEPERS)).toBe(
      'ServiceNow will be disconnected for your organization.',
    );
  });

  it('says whose connections keep it connected, never a bare count', () => {
    expect(instanceNote('ServiceNow', keepers({ organization: true }))).toBe(
      "The organization's connection keeps ServiceNow connected for your organization; only this connection is revoked.",
    );
    expect(instanceNote('ServiceNow', keepers({ members: 1, memberNames: ['Max Member'] }))).toBe(
      "Max Member's personal connection keeps ServiceNow connected for your organization; only this connection is revoked.",
    );
    expect(
      instanceNote(
        'Salesforce',
        keepers({ organization: true, yours: true, members: 1, memberNames: ['Vera Viewer'] }),
      ),
    ).toBe(
      "The organization's connection, your personal connection and Vera Viewer's personal connection keep Salesforce connected for your organization; only this connection is revoked.",
    );
  });

  it('counts the colleagues the caller may not name, and names no more than three', () => {
    expect(instanceNote('Slack', keepers({ members: 1 }))).toBe(
      "Another member's personal connection keeps Slack connected for your organization; only this connection is revoked.",
    );
    expect(instanceNote('Slack', keepers({ organization: true, members: 2 }))).toBe(
      "The organization's connection and 2 other members' personal connections keep Slack connected for your organization; only this connection is revoked.",
    );
    expect(instanceNote('Slack', keepers({ members: 4, memberNames: ['A', 'B', 'C', 'D'] }))).toBe(
      "A's personal connection, B's personal connection, C's personal connection and another member's personal connection keep Slack connected for your organization; only this connection is revoked.",
    );
    // An instance with a connection per member: counted, never listed.
    expect(
      instanceNote('Google', keepers({ yours: true, members: 2_500, memberNames: ['A'] })),
    ).toBe(
      "Your personal connection, A's personal connection and 2499 other members' personal connections keep Google connected for your organization; only this connection is revoked.",
    );
  });
});

describe("the disconnect dialog's question", () => {
  it('is the seed’s, and says whose connection it is on a member’s behalf', () => {
    expect(disconnectTitle('ServiceNow')).toBe('Disconnect ServiceNow?');
    expect(disconnectTitle('ServiceNow', null)).toBe('Disconnect ServiceNow?');
    expect(disconnectTitle('ServiceNow', 'Max Member')).toBe(
      "Disconnect Max Member's ServiceNow connection?",
    );
  });
});
