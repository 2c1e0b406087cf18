import { TRPCError } from '@trpc/server';
import { authedProcedure } from '../../trpc/trpc';
import { loadPeople, mayNameOwner } from '../people';
import { ZListJobsInput } from './list-jobs.schema';
import { busOptions } from '../../trpc/bus-options';

/**
 * An instance's sync jobs, each with its newest execution and counts, and the connection it syncs for: its level,
 * state (an Enable the scheduler would refuse is offered as unavailable, with why) and who made it — named for the
 * organization's connections, the caller's own, and anyone's to settings.view or settings.edit; otherwise
 * `connectedBy` and `userId` are null. `records` is the instance's local records of the job's resource, shared by every
 * connection's job of that resource. The instance must be the caller's org's (NOT_FOUND otherwise, like a missing
 * one); an instance without jobs (API-key providers) lists none.
 */
/** Jobs a list carries at most (an instance may have jobs for every member's connection). */
export const JOBS_SHOWN = 300;
/** Disconnected connections of the caller's own slots whose kept jobs the list puts first. */
const SLOT_HISTORY = 5;

export const listJobs = authedProcedure.input(ZListJobsInput).query(async ({ ctx, input }) => {
  const { identity } = ctx;
  const opts = busOptions(ctx);
  // The caller's own slots first (the org's connection and their own, live or disconnected with their jobs kept):
  // their jobs always make the list, whatever the number of members whose jobs come after them.
  const own = await ctx.deps.bus.request(
    'connection.integrations.list',
    {
      orgId: identity.orgId,
      instanceId: input.instanceId,
      endedConnectionIds: [],
      viewer: { userId: identity.userId, othersLimit: 0, slotHistory: SLOT_HISTORY },
    },
    opts,
  );
  const ownEntry = own.instances.find((i) => i.instance.id === input.instanceId);
  // Scoped to the org: another org's instance is not in the caller's list.
  if (!ownEntry) {
    throw new TRPCError({ code: 'NOT_FOUND', message: 'no such integration instance' });
  }
  const overview = await ctx.deps.bus.request(
    'sync-scheduler.jobs.overview',
    {
      orgId: identity.orgId,
      instanceId: input.instanceId,
      firstConnectionIds: ownEntry.connections.map((c) => c.id),
      limit: JOBS_SHOWN,
    },
    opts,
  );
  // The listed jobs' connections (named, whatever their status or owner): never every member's. Those the first
  // answer carried already are not asked for again; usually none is left (the org's and the caller's own jobs).
  const connections = new Map(ownEntry.connections.map((c) => [c.id, c]));
  const missing = [
    ...new Set(overview.jobs.map((j) => j.job.connectionId).filter((id) => !connections.has(id))),
  ];
  if (missing.length > 0) {
    const { instances } = await ctx.deps.bus.request(
      'connection.integrations.list',
      {
        orgId: identity.orgId,
        instanceId: input.instanceId,
        endedConnectionIds: missing,
        viewer: {
          userId: identity.userId,
          othersLimit: 0,
          namedLimit: JOBS_SHOWN,
          namedOthers: true,
        },
      },
      opts,
    );
    const entry = instances.find((i) => i.instance.id === input.instanceId);
    for (const c of entry?.connections ?? []) connections.set(c.id, c);
  }
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
    /** Every job of the instance; the list carries at most JOBS_SHOWN of them. */
    jobsTotal: overview.jobsTotal ?? overview.jobs.length,
    jobs: overview.jobs.map((j) => {
      const c = connections.get(j.job.connectionId);
      const named = c !== undefined && mayNameOwner(identity, c);
      return {
        ...j,
        connection: c
          ? {
              id: c.id,
              level: c.level,
              // Whose it is, like `connectedBy`: a member is not told which colleague a personal connection is.
              userId: named ? c.userId : null,
              status: c.status,
              refreshTokenExpired: c.refreshTokenExpired,
              connectedBy: named ? (people.get(c.userId) ?? null) : null,
            }
          : null,
      };
    }),
  };
});
