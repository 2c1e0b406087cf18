import { authedProcedure } from '../../trpc/trpc';
import { connectionView } from '../integrations-router/connection-view';
import { loadPeople, mayNameOwner } from '../people';
import { loadDisconnectable } from './load-disconnectable';
import {
  dependentWarning,
  DISCONNECT_BODY,
  disconnectTitle,
  instanceNote,
  jobsWarning,
  type TKeepingConnection,
} from './disconnect-texts';
import { ZPreviewDisconnectInput } from './preview-disconnect.schema';

/** Seed step 1's confirmation dialog data. Changes nothing. */
export const previewDisconnect = authedProcedure
  .input(ZPreviewDisconnectInput)
  .query(async ({ ctx, input }) => {
    const { connection, instance } = await loadDisconnectable(ctx, input.connectionId);
    const provider = ctx.deps.catalogue.get(connection.vendor);
    const opts = {
      ctx: { traceId: ctx.traceId, actorUserId: ctx.identity.userId, orgId: ctx.identity.orgId },
    };
    const [sync, { dependents }, { connections }] = await Promise.all([
      ctx.deps.bus.request(
        'sync-scheduler.connections.summary',
        { orgId: ctx.identity.orgId, connectionId: connection.id },
        opts,
      ),
      ctx.deps.bus.request(
        'connection.dependents.list',
        { orgId: ctx.identity.orgId, vendor: connection.vendor },
        opts,
      ),
      ctx.deps.bus.request(
        'connection.instances.get',
        { orgId: ctx.identity.orgId, vendor: connection.vendor },
        opts,
      ),
    ]);
    const others = connections.filter(
      (c) => c.id !== connection.id && (c.status === 'connected' || c.status === 'disconnecting'),
    );
    // Whose connections keep the instance connected: the org's, the caller's own, a colleague's by name only for
    // callers who may see who connected what (settings.view or settings.edit).
    // Another member's personal connection (a disconnect on their behalf): whose it is, under the same rule.
    const onBehalf = connection.level === 'user' && connection.userId !== ctx.identity.userId;
    const people = await loadPeople(
      ctx.deps.orm.em.getConnection().getKnex(),
      ctx.identity.orgId,
      [...others, ...(onBehalf ? [connection] : [])]
        .filter((c) => c.level === 'user' && c.userId !== ctx.identity.userId)
        .filter((c) => mayNameOwner(ctx.identity, c))
        .map((c) => c.userId),
    );
    const owner = onBehalf ? (people.get(connection.userId) ?? null) : null;
    const keeping: TKeepingConnection[] = others.map((c) =>
      c.level === 'app'
        ? { kind: 'organization' }
        : c.userId === ctx.identity.userId
          ? { kind: 'yours' }
          : { kind: 'member', name: people.get(c.userId)?.name ?? null },
    );
    const instanceWillBeRevoked = others.length === 0;
    const revocation = provider.oauth?.revocation;
    return {
      provider: {
        key: provider.key,
        displayName: provider.displayName,
        authKind: provider.authKind,
      },
      connection: connectionView(connection),
      instance: { id: instance.id, status: instance.status },
      isOwner: connection.userId === ctx.identity.userId,
      /** Whose connection it is, when another member's and the caller may see who connected it; else null. */
      owner,
      activeSyncJobs: sync.enabledJobs,
      runningExecutions: sync.runningExecutions,
      dependents,
      otherConnections: others.length,
      instanceStaysConnected: !instanceWillBeRevoked,
      instanceWillBeRevoked,
      revocation: revocation
        ? {
            supported: revocation.kind !== 'none',
            note: revocation.kind === 'none' ? revocation.reason : null,
          }
        : { supported: false, note: provider.apiKey?.rotationHint ?? null },
      canDisconnect: connection.status === 'connected' || connection.status === 'error',
      texts: {
        title: disconnectTitle(provider.displayName, owner?.name),
        body: DISCONNECT_BODY,
        jobsWarning: sync.enabledJobs > 0 ? jobsWarning(sync.enabledJobs) : null,
        // The features depend on the instance: while another connection keeps it connected they go on as before.
        dependentWarnings: instanceWillBeRevoked
          ? dependents.map((d) => dependentWarning(d.label))
          : [],
        instanceNote: instanceNote(provider.displayName, keeping),
      },
    };
  });
