import type { TConnection } from '@otesse/contracts';
import type { TPerson } from '../people';

/** A connection as users see it: who, which account, status; never credentials. */
export function connectionView(c: TConnection) {
  return {
    id: c.id,
    vendor: c.vendor,
    instanceId: c.instanceId,
    level: c.level,
    userId: c.userId,
    status: c.status,
    externalAccountId: c.externalAccountId,
    tenantId: c.tenantId,
    refreshTokenExpired: c.refreshTokenExpired,
    accountLabel: c.details.accountLabel ?? null,
    /** The provider site the connection is on, by name (Atlassian). */
    siteName: c.details.siteName ?? null,
    senderEmails: c.details.senderEmails ?? [],
    connectedAt: c.connectedAt,
    revokedAt: c.revokedAt,
    /** When its connect began: what a `pending` connection shows (a connect takes seconds; one older was cut short). */
    startedAt: c.createdAt,
  };
}
export type TConnectionView = ReturnType<typeof connectionView>;

export const LIVE_STATUSES = new Set(['pending', 'connected', 'disconnecting']);

/** Another member's personal connection, as an admin (settings.edit) sees it: the view plus its owner. */
export function otherConnectionView(c: TConnection, owner: TPerson | null) {
  return { ...connectionView(c), owner };
}
export type TOtherConnectionView = ReturnType<typeof otherConnectionView>;

/** A member's connection as a card lists it: the view, its owner (also as `connectedBy`) and its operation. */
export function memberConnectionView<TOperation>(
  c: TConnection,
  people: ReadonlyMap<string, TPerson>,
  operations: ReadonlyMap<string, TOperation>,
) {
  const owner = people.get(c.userId) ?? null;
  return {
    ...otherConnectionView(c, owner),
    connectedBy: owner,
    operation: operations.get(c.id) ?? null,
  };
}
