import type { TSyncJobConnection } from '../../trpc/router-types';
import { personLabel } from '../../ui/person';

/**
 * Why Enable cannot work for a job of this connection, or null when it can: the scheduler only enables a job
 * whose connection is `connected` with a valid refresh token (PRECONDITION_FAILED `connection_not_connected`).
 */
export function enableBlockedReason(c: TSyncJobConnection): string | null {
  if (!c) return 'Its connection no longer exists.';
  switch (c.status) {
    case 'revoked':
      return 'Its connection was disconnected: connect again, then enable it.';
    case 'disconnecting':
      return 'Its connection is being disconnected.';
    case 'pending':
      return 'Its connection is still being set up.';
    case 'error':
      return 'Its connection failed: connect again, then enable it.';
    default:
      return c.refreshTokenExpired
        ? 'Its connection needs a reconnect (the refresh token expired).'
        : null;
  }
}

/**
 * What holds an enabled job off for now, or null: a change of the connection's user pauses its runs across the
 * swap (the scheduler's `pausedForChangeUser`; a run asked for meanwhile starts once the change is done).
 */
export function jobHeldText(job: {
  isEnabled: boolean;
  pausedForChangeUser: boolean;
}): string | null {
  return job.isEnabled && job.pausedForChangeUser
    ? 'Paused while the connected user is changed'
    : null;
}

/**
 * A disabled job as someone who cannot enable it (no settings.edit) sees it: the connection's problem first (they
 * may fix that, e.g. reconnect their own), else who can turn it back on. Null for an enabled job or an admin, who
 * has the Enable button and its reason.
 */
export function disabledJobHint(
  job: { isEnabled: boolean },
  connection: TSyncJobConnection,
  canEdit: boolean,
): string | null {
  if (job.isEnabled || canEdit) return null;
  return enableBlockedReason(connection) ?? 'Ask an admin to enable it.';
}

/**
 * A refused Enable, Disable or Run now in words, from the edge's typed reasons (libs/contracts
 * `sync-scheduler.jobs.set-enabled` / `run-now`); anything else keeps the server's message.
 */
export function syncJobErrorText(
  code: string | undefined,
  reason: string | undefined,
): string | null {
  if (code !== 'PRECONDITION_FAILED') return null;
  switch (reason) {
    case 'connection_not_connected':
      return 'This job’s connection is not connected (it was disconnected, or it needs a reconnect). Connect it again, then enable the job.';
    case 'disabled_by_disconnect':
      return 'A disconnect of this job’s connection turned its jobs off. Connect it again, then enable the job.';
    case 'connection_changed':
      return 'The job moved to another connection meanwhile (a reconnect). Try again.';
    case 'job_disabled':
      return 'The job is disabled: enable it first.';
    default:
      return null;
  }
}

/** Whose connection a group of jobs syncs for: the same words as the connection cards above. */
export function connectionGroupLabel(
  c: TSyncJobConnection,
  me: { userId: string; email: string },
): string {
  if (!c) return 'A connection that no longer exists';
  const state =
    c.status === 'revoked'
      ? ' (disconnected)'
      : c.status === 'disconnecting'
        ? ' (disconnecting)'
        : c.status === 'pending'
          ? ' (connecting)'
          : c.status === 'error'
            ? ' (failed)'
            : '';
  if (c.level === 'app') {
    const by =
      c.connectedBy || c.userId === me.userId ? personLabel(c.userId, c.connectedBy, me) : null;
    return `Organization connection${by ? `, connected by ${by === 'You' ? 'you' : by}` : ''}${state}`;
  }
  if (c.userId === me.userId) return `Your personal connection${state}`;
  return c.connectedBy
    ? `Personal connection of ${personLabel(c.userId, c.connectedBy, me)}${state}`
    : `Another member’s personal connection${state}`;
}

/**
 * The instance's jobs by the connection they sync for: the organization's first, then the caller's own, then other
 * members' (by name), and connections no longer live (disconnected, failed) last.
 */
export function groupJobsByConnection<
  T extends { job: { connectionId: string }; connection: TSyncJobConnection },
>(
  jobs: readonly T[],
  me: { userId: string; email: string },
): { connectionId: string; connection: TSyncJobConnection; label: string; jobs: T[] }[] {
  const groups = new Map<
    string,
    { connectionId: string; connection: TSyncJobConnection; label: string; jobs: T[] }
  >();
  for (const j of jobs) {
    const id = j.job.connectionId;
    const g = groups.get(id);
    if (g) g.jobs.push(j);
    else
      groups.set(id, {
        connectionId: id,
        connection: j.connection,
        label: connectionGroupLabel(j.connection, me),
        jobs: [j],
      });
  }
  const rank = (c: TSyncJobConnection): number => {
    if (!c) return 9;
    const gone = c.status === 'revoked' || c.status === 'error' ? 4 : 0;
    return gone + (c.level === 'app' ? 0 : c.userId === me.userId ? 1 : 2);
  };
  return [...groups.values()].sort(
    (a, b) => rank(a.connection) - rank(b.connection) || a.label.localeCompare(b.label),
  );
}

/** Local records per resource: one count per resource for the whole instance (every connection's runs add to it). */
export function recordsByResource(
  jobs: readonly { job: { resource: string }; records: number }[],
): { resource: string; records: number }[] {
  const m = new Map<string, number>();
  for (const j of jobs) m.set(j.job.resource, j.records);
  return [...m.entries()]
    .map(([resource, records]) => ({ resource, records }))
    .sort((a, b) => a.resource.localeCompare(b.resource));
}

export const resourceLabel = (r: string): string => r.charAt(0).toUpperCase() + r.slice(1);
