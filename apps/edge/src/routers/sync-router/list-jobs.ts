import { TRPCError } from '@trpc/server';
import { authedProcedure } from '../../trpc/trpc';
import { loadPeople, mayNameOwner } from '../people';
import { ZListJobsInput } from './list-jobs.schema';
import { syncRequestOptions } from './sync-request-context';

/**
 * An instance's sync jobs, each with its newest execution and counts, and the connection it syncs for: its level,
 * state (an Enable the scheduler would refuse is offered as unavailable, with why) and who made it — named for the
 * organization's connections, the caller's own, and anyone's to settings.view or settings.edit; otherwise
 * `connectedBy` is null. `records` is the instance's local records of the job's resource, shared by every
 * connection's job of that resource. The instance must be the caller's org's (NOT_FOUND otherwise, like a missing
 * one); an instance without jobs (API-key providers) lists none.
 */
export const listJobs = authedProcedure.input(ZListJobsInput).query(async ({ ctx, input }) => {
  const { identity } = ctx;
  const opts = syncRequestOptions(ctx);
  // The jobs first (scoped to the org: another org's instance has none here): the ended connections among theirs are
  // the only ones of the org's history the list needs.
  const overview = await ctx.deps.bus.request(
    'sync-scheduler.jobs.overview',
    { orgId: identity.orgId, instanceId: input.instanceId },
    opts,
  );
  // The jobs' connections only (named, whatever their status): not every member's.
  const { instances } = await ctx.deps.bus.request(
    'connection.integrations.list',
    {
      orgId: identity.orgId,
      endedConnectionIds: [...new Set(overview.jobs.map((j) => j.job.connectionId))].slice(
        0,
        10_000,
      ),
      viewer: { userId: identity.userId, othersLimit: 0 },
    },
    opts,
  );
  const entry = instances.find((i) => i.instance.id === input.instanceId);
  if (!entry) {
    throw new TRPCError({ code: 'NOT_FOUND', message: 'no such integration instance' });
  }
  const connections = new Map(entry.connections.map((c) => [c.id, c]));
  const people = await loadPeople(
    ctx.deps.orm.em.getConnection().getKnex(),
    identity.orgId,
    overview.jobs.flatMap((j) => {
      const c = connections.get(j.job.connectionId);
      return c && mayNameOwner(identity, c) ? [c.userId] : [];
    }),
  );
  return {
    ...overview,
    jobs: overview.jobs.map((j) => {
      const c = connections.get(j.job.connectionId);
      return {
        ...j,
        connection: c
          ? {
              id: c.id,
              level: c.level,
              userId: c.userId,
              status: c.status,
              refreshTokenExpired: c.refreshTokenExpired,
              connectedBy: mayNameOwner(identity, c) ? (people.get(c.userId) ?? null) : null,
            }
          : null,
      };
    }),
  };
});
