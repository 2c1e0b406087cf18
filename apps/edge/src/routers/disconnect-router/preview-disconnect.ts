import { authedProcedure } from '../../trpc/trpc';
import { connectionView } from '../integrations-router/connection-view';
import { loadPeople, mayNameAnyone, mayNameOwner } from '../people';
import { loadDisconnectable } from './load-disconnectable';
import {
  dependentWarning,
  DISCONNECT_BODY,
  disconnectTitle,
  instanceNote,
  jobsWarning,
  keeperCount,
  type TKeepers,
} from './disconnect-texts';
import { ZPreviewDisconnectInput } from './preview-disconnect.schema';
import { busOptions } from '../../trpc/bus-options';

/** How many colleagues the dialog names at most (the rest it counts). */
const KEEPERS_NAMED = 3;

/** Seed step 1's confirmation dialog data. Changes nothing. */
export const previewDisconnect = authedProcedure
  .input(ZPreviewDisconnectInput)
  .query(async ({ ctx, input }) => {
    const { connection, instance } = await loadDisconnectable(ctx, input.connectionId);
    const provider = ctx.deps.catalogue.get(connection.vendor);
    const opts = busOptions(ctx);
    // Colleagues are named only to callers who may see who connected what (settings.view or settings.edit).
    const mayName = mayNameAnyone(ctx.identity);
    const [sync, { dependents }, keepers] = await Promise.all([
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
      // Whose live connections keep the instance connected without this one (what the saga's lock counts too):
      // counted by the connection service, a few members named; an instance may hold one per member.
      ctx.deps.bus.request(
        'connection.instances.keepers',
        {
          orgId: ctx.identity.orgId,
          connectionId: connection.id,
          viewerUserId: ctx.identity.userId,
          sample: mayName ? KEEPERS_NAMED : 0,
        },
        opts,
      ),
    ]);
    // Another member's personal connection (a disconnect on their behalf): whose it is, under the same rule.
    const onBehalf = connection.level === 'user' && connection.userId !== ctx.identity.userId;
    const people = await loadPeople(ctx.deps.orm.em.getConnection().getKnex(), ctx.identity.orgId, [
      ...keepers.memberUserIds,
      ...(onBehalf && mayNameOwner(ctx.identity, connection) ? [connection.userId] : []),
    ]);
    const owner = onBehalf ? (people.get(connection.userId) ?? null) : null;
    const keeping: TKeepers = {
      organization: keepers.organization,
      yours: keepers.yours,
      members: keepers.members,
      memberNames: keepers.memberUserIds.flatMap((id) => {
        const name = people.get(id)?.name;
        return name ? [name] : [];
      }),
    };
    const otherConnections = keeperCount(keeping);
    const instanceWillBeRevoked = otherConnections === 0;
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
      otherConnections,
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
