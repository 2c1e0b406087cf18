import { describe, expect, it } from 'vitest';
import { disconnectTitle, instanceNote } from './disconnect-texts';

describe("the disconnect dialog's note on the instance", () => {
  it('says the instance goes when nothing else keeps it', () => {
    expect(instanceNote('ServiceNow', [])).toBe(
      'ServiceNow will be disconnected for your organization.',
    );
  });

  it('says whose connections keep it connected, never a bare count', () => {
    expect(instanceNote('ServiceNow', [{ kind: 'organization' }])).toBe(
      "The organization's connection keeps ServiceNow connected for your organization; only this connection is revoked.",
    );
    expect(instanceNote('ServiceNow', [{ kind: 'member', name: 'Max Member' }])).toBe(
      "Max Member's personal connection keeps ServiceNow connected for your organization; only this connection is revoked.",
    );
    expect(
      instanceNote('Salesforce', [
        { kind: 'organization' },
        { kind: 'yours' },
        { kind: 'member', name: 'Vera Viewer' },
      ]),
    ).toBe(
      "The organization's connection, your personal connection and Vera Viewer's personal connection keep Salesforce connected for your organization; only this connection is revoked.",
    );
  });

  it('counts the colleagues the caller may not name, and names no more than three', () => {
    expect(instanceNote('Slack', [{ kind: 'member', name: null }])).toBe(
      "Another member's personal connection keeps Slack connected for your organization; only this connection is revoked.",
    );
    expect(
      instanceNote('Slack', [
        { kind: 'organization' },
        { kind: 'member', name: null },
        { kind: 'member', name: null },
      ]),
    ).toBe(
      "The organization's connection and 2 other members' personal connections keep Slack connected for your organization; only this connection is revoked.",
    );
    expect(
      instanceNote(
        'Slack',
        ['A', 'B', 'C', 'D'].map((name) => ({ kind: 'member' as const, name })),
      ),
    ).toBe(
      "A's personal connection, B's personal connection, C's personal connection and another member's personal connection keep Slack connected for your organization; only this connection is revoked.",
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
