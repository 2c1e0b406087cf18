import { describe, expect, it } from 'vitest';
import type { TConnectionView, TIntegration } from '../../trpc/router-types';
import {
  canOfferUnlink,
  connectionSummary,
  instanceLine,
  integrationStatus,
  isHeld,
  operationNoteText,
  ownOperations,
} from './integration-status';

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

const op = (over: Partial<NonNullable<TConnectionView['operation']>> = {}) => ({
  sagaId: 's1',
  type: 'disconnect',
  status: 'running' as const,
  needsResume: false,
  currentStep: 'revoke-tokens',
  error: null,
  actorUserId: 'u-admin',
  timesResumed: 0,
  ...over,
});
const conn = (over: Partial<TConnectionView>): TConnectionView =>
  ({
    id: 'c-app',
    level: 'app',
    userId: 'u-admin',
    status: 'connected',
    refreshTokenExpired: false,
    operation: null,
    ...over,
  }) as TConnectionView;
const integration = (over: Partial<TIntegration>): TIntegration =>
  ({
    integrated: true,
    refreshTokenExpired: false,
    appConnection: null,
    myConnection: null,
    otherConnections: [],
    unfinishedConnections: [],
    instance: { status: 'connected' },
    ...over,
  }) as TIntegration;

describe("an integration's badge", () => {
  it('says Disconnecting… (not Connected) while a disconnect runs on the org’s connection', () => {
    const i = integration({ appConnection: conn({ operation: op() }) });
    expect(integrationStatus(i, 'u-admin')).toEqual({ tone: 'info', label: 'Disconnecting…' });
    expect(ownOperations(i, 'u-admin').map((o) => o.connection.id)).toEqual(['c-app']);
    // The connection already locked, before the list has the saga: still not "Connected".
    expect(
      integrationStatus(integration({ appConnection: conn({ status: 'disconnecting' }) })),
    ).toEqual({ tone: 'info', label: 'Disconnecting…' });
  });

  it('says a disconnect stopped when it stopped after revoking the connection', () => {
    const stopped = conn({
      status: 'revoked',
      operation: op({ status: 'failed', needsResume: true, currentStep: 'audit' }),
    });
    const i = integration({
      integrated: false,
      instance: { status: 'revoked' } as TIntegration['instance'],
      unfinishedConnections: [{ ...stopped, owner: null }] as TIntegration['unfinishedConnections'],
    });
    expect(integrationStatus(i, 'u-admin')).toEqual({
      tone: 'danger',
      label: 'Disconnect stopped',
    });
    expect(isHeld(stopped)).toBe(true);
    expect(operationNoteText(stopped.operation!, 'app')).toMatch(
      /^The disconnect of the organization’s connection stopped before it finished\. Resume it/,
    );
  });

  it('leaves another member’s operation to that connection: it does not make the integration’s badge', () => {
    const theirs = conn({
      id: 'c-m',
      level: 'user',
      userId: 'u-member',
      status: 'revoked',
      operation: op(),
    });
    const i = integration({
      appConnection: conn({}),
      unfinishedConnections: [{ ...theirs, owner: null }] as TIntegration['unfinishedConnections'],
    });
    expect(ownOperations(i, 'u-admin')).toEqual([]);
    expect(integrationStatus(i, 'u-admin')).toEqual({ tone: 'success', label: 'Connected' });
    // The member's own one does.
    expect(integrationStatus(i, 'u-member').label).toBe('Disconnecting…');
  });

  it('says Pending while a connect it shows is unfinished, not for an instance whose connect was given up', () => {
    const unfinished = integration({
      integrated: false,
      instance: { status: 'pending' } as TIntegration['instance'],
      appConnection: conn({ status: 'pending' }),
    });
    expect(integrationStatus(unfinished, 'u-admin')).toEqual({ tone: 'info', label: 'Pending' });
    const givenUp = integration({
      integrated: false,
      instance: { status: 'pending' } as TIntegration['instance'],
    });
    expect(integrationStatus(givenUp, 'u-admin')).toEqual({
      tone: 'neutral',
      label: 'Not connected',
    });
  });

  it('names reconnects and changes of user in progress, and keeps the expiry warning otherwise', () => {
    expect(
      integrationStatus(
        integration({
          myConnection: conn({ level: 'user', operation: op({ type: 'change-user' }) }),
        }),
      ).label,
    ).toBe('Changing user…');
    expect(
      integrationStatus(integration({ refreshTokenExpired: true, appConnection: conn({}) })).label,
    ).toBe('Reconnect needed');
    expect(isHeld(conn({}))).toBe(false);
  });
});

describe("a card's line about the instance, and its Unlink", () => {
  const pinned = { subdomain: null, site: null, tenant: 'acme' };
  it('names the company a QuickBooks is linked to, connected or not', () => {
    expect(instanceLine(pinned, null, 1)).toEqual({ label: 'Linked to', value: 'acme' });
    expect(instanceLine(pinned, null, 0)).toEqual({ label: 'Linked to', value: 'acme' });
    expect(instanceLine({ ...pinned, tenant: null }, null, 0)).toBeNull();
    expect(instanceLine(null, null, 0)).toBeNull();
  });

  it('names a ServiceNow instance or an Atlassian site while connected, and the pin once disconnected', () => {
    const sn = { subdomain: 'acme', site: null, tenant: 'acme.service-now.com' };
    expect(instanceLine(sn, 'ServiceNow instance', 1)).toEqual({
      label: 'ServiceNow instance',
      value: 'acme',
    });
    expect(instanceLine(sn, 'ServiceNow instance', 0)).toEqual({
      label: 'Linked to',
      value: 'acme.service-now.com',
    });
    const site = { subdomain: null, site: { id: 's-1', name: 'Acme' }, tenant: 's-1' };
    expect(instanceLine(site, null, 1)).toEqual({ label: 'Site', value: 'Acme' });
    expect(instanceLine(site, null, 0)).toEqual({ label: 'Linked to', value: 'Acme' });
    // A site chosen but not (yet) the pin: the pin is named by its id.
    expect(instanceLine({ ...site, tenant: 's-2' }, null, 0)).toEqual({
      label: 'Linked to',
      value: 's-2',
    });
  });

  it('offers an admin Unlink only for a pinned instance nobody is connected to', () => {
    const admin = { userId: 'u-admin', canEdit: true };
    const disconnected = integration({
      integrated: false,
      userConnections: 0,
      otherConnectionsTotal: 0,
      instance: { status: 'revoked', tenant: 'acme' } as TIntegration['instance'],
    });
    expect(canOfferUnlink(disconnected, admin)).toBe(true);
    expect(canOfferUnlink(disconnected, { userId: 'u-member', canEdit: false })).toBe(false);
    expect(
      canOfferUnlink(
        { ...disconnected, instance: { ...disconnected.instance!, tenant: null } },
        admin,
      ),
    ).toBe(false);
    // Someone still connected (the org, a member), or a disconnect not finished: disconnect first.
    expect(canOfferUnlink({ ...disconnected, appConnection: conn({}) }, admin)).toBe(false);
    expect(canOfferUnlink({ ...disconnected, otherConnectionsTotal: 1 }, admin)).toBe(false);
    expect(
      canOfferUnlink(
        {
          ...disconnected,
          unfinishedConnections: [
            { ...conn({ status: 'revoked', operation: op() }), owner: null },
          ] as TIntegration['unfinishedConnections'],
        },
        admin,
      ),
    ).toBe(false);
  });
});
