import { randomUUID } from 'node:crypto';
import type { Bus } from '@otesse/messaging';
import type { TFakeProvider } from '@otesse/fake-provider';
import { connectOverNats } from '@otesse/testing';

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
  const { connectionId, instanceId } = await connectOverNats(bus, {
    orgId: input.orgId,
    vendor: input.vendor,
    userId: input.userId,
    externalAccountId: user.id,
    tenantId: user.tenantId,
    accessToken: { value: access.token, expiresAt: new Date(access.expiresAt) },
    refreshToken: refresh.token,
    resources: ['contacts'],
  });
  return {
    connectionId,
    instanceId,
    userId: input.userId,
    vendor: input.vendor,
  };
}
