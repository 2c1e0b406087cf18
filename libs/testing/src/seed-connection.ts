import { randomUUID } from 'node:crypto';
import type { TReplyOf, TRequestInput, TRequestSubject, TSyncResource } from '@otesse/contracts';

/** What this needs of `@otesse/messaging`'s Bus (which this lib may not import: its tests import this lib). */
export interface TRequester {
  request<S extends TRequestSubject>(subject: S, req: TRequestInput<S>): Promise<TReplyOf<S>>;
}

/**
 * A connected user-level connection made the way the edge's connect does it, straight over NATS: create → store
 * the tokens in the vault → activate → default sync jobs. For harnesses that need many connections quickly (the
 * chaos workload, bench:disconnect); the edge's OAuth flow itself is tested end to end elsewhere.
 */
export async function connectOverNats(
  bus: TRequester,
  input: {
    orgId: string;
    vendor: string;
    userId: string;
    externalAccountId: string;
    tenantId: string;
    accessToken: { value: string; expiresAt: Date };
    refreshToken: string;
    resources: TSyncResource[];
  },
): Promise<{ connectionId: string; instanceId: string }> {
  const { orgId, vendor } = input;
  const { connection, instance } = await bus.request('connection.connections.create', {
    orgId,
    vendor,
    level: 'user',
    userId: input.userId,
    externalAccountId: input.externalAccountId,
    tenantId: input.tenantId,
  });
  await bus.request('vault.credentials.store', {
    orgId,
    connectionId: connection.id,
    vendor,
    credentials: [
      {
        kind: 'access_token',
        value: input.accessToken.value,
        expiresAt: input.accessToken.expiresAt.toISOString(),
      },
      { kind: 'refresh_token', value: input.refreshToken },
    ],
  });
  await bus.request('connection.connections.activate', {
    orgId,
    connectionId: connection.id,
    eventId: randomUUID(),
  });
  await bus.request('sync-scheduler.jobs.create-defaults', {
    orgId,
    instanceId: instance.id,
    connectionId: connection.id,
    vendor,
    resources: input.resources,
    everySeconds: 86_400,
  });
  return { connectionId: connection.id, instanceId: instance.id };
}
