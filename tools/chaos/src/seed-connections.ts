import { randomUUID } from 'node:crypto';
import type { Bus } from '@otesse/messaging';
import type { TFakeProvider } from '@otesse/fake-provider';

export interface TSeededConnection {
  connectionId: string;
  instanceId: string;
  userId: string;
  vendor: string;
}

/**
 * A connected user-level connection made the way the edge's connect does it, over NATS (create → store the
 * tokens in the vault → activate → default sync jobs), with real tokens minted by the in-process fake provider
 * (its OAuth client for the vendor): quick enough to keep a steady supply of connections to disconnect.
 */
export async function seedConnection(
  bus: Bus,
  fake: TFakeProvider,
  input: { orgId: string; userId: string; vendor: string; account?: string },
): Promise<TSeededConnection> {
  const user = fake.state.findUser(input.account ?? 'u-alice');
  if (!user) throw new Error(`the fake provider has no user ${input.account ?? 'u-alice'}`);
  const { access, refresh } = fake.state.issueTokens({
    clientId: `otesse-dev-${input.vendor}`,
    user,
    instance: undefined,
    scope: 'contacts',
    familyId: randomUUID(),
  });
  const { connection, instance } = await bus.request('connection.connections.create', {
    orgId: input.orgId,
    vendor: input.vendor,
    level: 'user',
    userId: input.userId,
    externalAccountId: user.id,
    tenantId: user.tenantId,
  });
  await bus.request('vault.credentials.store', {
    orgId: input.orgId,
    connectionId: connection.id,
    vendor: input.vendor,
    credentials: [
      {
        kind: 'access_token',
        value: access.token,
        expiresAt: new Date(access.expiresAt).toISOString(),
      },
      { kind: 'refresh_token', value: refresh.token },
    ],
  });
  await bus.request('connection.connections.activate', {
    orgId: input.orgId,
    connectionId: connection.id,
    eventId: randomUUID(),
  });
  await bus.request('sync-scheduler.jobs.create-defaults', {
    orgId: input.orgId,
    instanceId: instance.id,
    connectionId: connection.id,
    vendor: input.vendor,
    resources: ['contacts'],
    everySeconds: 86_400,
  });
  return {
    connectionId: connection.id,
    instanceId: instance.id,
    userId: input.userId,
    vendor: input.vendor,
  };
}
