import { describe, expect, it } from 'vitest';
import type { TSyncJobConnection } from '../../trpc/router-types';
import {
  connectionGroupLabel,
  disabledJobHint,
  enableBlockedReason,
  groupJobsByConnection,
  jobHeldText,
  recordsByResource,
  syncJobErrorText,
} from './sync-job-text';

const me = { userId: 'u-ada', email: 'ada@acme.test' };
const conn = (over: Partial<NonNullable<TSyncJobConnection>> = {}): TSyncJobConnection => ({
  id: 'c-org',
  level: 'app',
  userId: 'u-ada',
  status: 'connected',
  refreshTokenExpired: false,
  connectedBy: { name: 'Ada Admin', email: 'ada@acme.test' },
  ...over,
});
const job = (
  id: string,
  connectionId: string,
  resource: string,
  c: TSyncJobConnection,
  records = 0,
) => ({
  job: { id, connectionId, resource },
  connection: c,
  records,
});

describe('sync jobs of several connections', () => {
  it('groups them under whose connection they sync for: the organization’s, yours, then others’', () => {
    const org = conn({
      id: 'c-org',
      userId: 'u-max',
      connectedBy: { name: 'Max Admin', email: 'm@x' },
    });
    const maxs = conn({
      id: 'c-max',
      level: 'user',
      userId: 'u-max2',
      connectedBy: { name: 'Max Member', email: 'max@acme.test' },
    });
    const old = conn({ id: 'c-old', status: 'revoked' });
    const groups = groupJobsByConnection(
      [
        job('j1', 'c-max', 'contacts', maxs),
        job('j2', 'c-old', 'tickets', old),
        job('j3', 'c-org', 'contacts', org),
        job('j4', 'c-max', 'tickets', maxs),
        job('j5', 'c-org', 'tickets', org),
      ],
      me,
    );
    expect(groups.map((g) => [g.label, g.jobs.map((j) => j.job.id)])).toEqual([
      ['Organization connection, connected by Max Admin', ['j3', 'j5']],
      ['Personal connection of Max Member', ['j1', 'j4']],
      ['Organization connection, connected by you (disconnected)', ['j2']],
    ]);
  });

  it('names a colleague only when the edge did; never an id', () => {
    expect(
      connectionGroupLabel(conn({ level: 'user', userId: 'u-x', connectedBy: null }), me),
    ).toBe('Another member’s personal connection');
    expect(connectionGroupLabel(conn({ level: 'user' }), me)).toBe('Your personal connection');
    expect(connectionGroupLabel(conn({ userId: 'u-x', connectedBy: null }), me)).toBe(
      'Organization connection',
    );
  });

  it('shows the instance’s records once per resource, not as if each job had them', () => {
    const org = conn();
    expect(
      recordsByResource([
        job('a', 'c1', 'tickets', org, 50),
        job('b', 'c2', 'tickets', org, 50),
        job('c', 'c1', 'contacts', org, 0),
      ]),
    ).toEqual([
      { resource: 'contacts', records: 0 },
      { resource: 'tickets', records: 50 },
    ]);
  });
});

describe('Enable on a job whose connection is not connected', () => {
  it('is unavailable, with why, for a disconnected, disconnecting or expired connection', () => {
    expect(enableBlockedReason(conn({ status: 'revoked' }))).toBe(
      'Its connection was disconnected: connect again, then enable it.',
    );
    expect(enableBlockedReason(conn({ status: 'disconnecting' }))).toBe(
      'Its connection is being disconnected.',
    );
    expect(enableBlockedReason(conn({ refreshTokenExpired: true }))).toMatch(/needs a reconnect/);
    expect(enableBlockedReason(null)).toBe('Its connection no longer exists.');
    expect(enableBlockedReason(conn())).toBeNull();
  });

  it('says what the scheduler’s typed refusals mean instead of its raw text', () => {
    expect(syncJobErrorText('PRECONDITION_FAILED', 'connection_not_connected')).toMatch(
      /not connected .*Connect it again, then enable the job/,
    );
    expect(syncJobErrorText('PRECONDITION_FAILED', 'disabled_by_disconnect')).toMatch(
      /A disconnect of this job’s connection turned its jobs off/,
    );
    expect(syncJobErrorText('PRECONDITION_FAILED', 'job_disabled')).toBe(
      'The job is disabled: enable it first.',
    );
    expect(syncJobErrorText('NOT_FOUND', 'job_not_found')).toBeNull();
  });
});

describe('a job held off', () => {
  it('says so while a change of the connected user pauses an enabled job, and nothing otherwise', () => {
    expect(jobHeldText({ isEnabled: true, pausedForChangeUser: true })).toBe(
      'Paused while the connected user is changed',
    );
    expect(jobHeldText({ isEnabled: true, pausedForChangeUser: false })).toBeNull();
    // Disabled already says why it does not run.
    expect(jobHeldText({ isEnabled: false, pausedForChangeUser: true })).toBeNull();
  });
});

describe('a disabled job, to someone who cannot enable it', () => {
  const live = {
    id: 'c1',
    level: 'user' as const,
    userId: 'u1',
    status: 'connected' as const,
    refreshTokenExpired: false,
    connectedBy: null,
  };
  it('says who can turn it on, or what is wrong with its connection first', () => {
    expect(disabledJobHint({ isEnabled: false }, live, false)).toBe('Ask an admin to enable it.');
    expect(
      disabledJobHint({ isEnabled: false }, { ...live, refreshTokenExpired: true }, false),
    ).toBe('Its connection needs a reconnect (the refresh token expired).');
    // An admin has the Enable button (with its reason); an enabled job needs nothing.
    expect(disabledJobHint({ isEnabled: false }, live, true)).toBeNull();
    expect(disabledJobHint({ isEnabled: true }, live, false)).toBeNull();
  });
});
