import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBrowser, waitFor } from '@otesse/testing';
import { DASHBOARD_URL, startHarness, trpcErrorOf, type THarness } from './e2e-harness';

/** The dashboard's sync procedures through the edge, on the whole stack as processes (issue 4). */
describe('sync procedures through the edge (all services as processes, real Postgres/NATS/HTTP)', () => {
  let h: THarness;
  let instanceId: string;
  let jobId: string;

  beforeAll(async () => {
    h = await startHarness();
    // Connect Google over OAuth as a browser would; the connect creates its default sync job.
    const { url } = await h.admin.client.integrations.oauthUrl.query({
      vendor: 'google',
      flow: 'app',
    });
    const { stoppedAt } = await new TestBrowser().follow(url, { stopAt: DASHBOARD_URL });
    expect(stoppedAt).toContain('oauth=connected');
    const list = await h.admin.client.integrations.list.query({ category: 'productivity' });
    instanceId = list.find((i) => i.provider.key === 'google')!.instance!.id;
  });
  afterAll(async () => {
    await h?.close();
  });

  const auditEntry = (
    action: 'sync_job.enabled' | 'sync_job.disabled' | 'sync_job.run_requested',
  ) =>
    waitFor(async () => {
      const { entries } = await h.admin.client.audit.list.query({ filters: { action } });
      return entries.find((e) => e.targets.jobId === jobId);
    });

  it('lists the instance’s jobs to any member, runs one now and shows the execution with its counts', async () => {
    const listed = await h.member.client.sync.listJobs.query({ instanceId });
    expect(listed.jobs).toHaveLength(1);
    const [entry] = listed.jobs;
    expect(entry!.job).toMatchObject({ vendor: 'google', resource: 'contacts', isEnabled: true });
    jobId = entry!.job.id;

    const run = await h.admin.client.sync.runNow.mutate({ jobId });
    expect(run.job.runRequestedAt).not.toBeNull();
    const manual = await waitFor(
      async () => {
        const { executions } = await h.member.client.sync.listExecutions.query({ jobId });
        return executions.find((e) => e.trigger === 'manual' && e.status !== 'running');
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'the manual execution to end' },
    );
    expect(manual).toMatchObject({
      status: 'succeeded',
      recordsFetched: 50,
      recordsWritten: 50,
      referencesUpserted: 50,
      errorReason: null,
    });
    const detail = await h.member.client.sync.getExecution.query({ executionId: manual.id });
    expect(detail.execution.durationMs).toBeGreaterThanOrEqual(0);
    expect(detail.job.id).toBe(jobId);

    const after = await h.member.client.sync.listJobs.query({ instanceId });
    expect(after.jobs[0]).toMatchObject({
      records: 50,
      executions: { succeeded: expect.any(Number), running: expect.any(Number) },
    });
    expect(after.jobs[0]!.executions.succeeded).toBeGreaterThanOrEqual(1);
    expect(after.jobs[0]!.job.lastRunAt).not.toBeNull();
    expect(after.references).toEqual({ synced: 50, stale: 0 });
    expect(await auditEntry('sync_job.run_requested')).toMatchObject({
      actorUserId: h.admin.id,
      provider: 'google',
    });
  });

  it('disables and enables a job, audited; a disabled job cannot be run', async () => {
    const off = await h.admin.client.sync.disableJob.mutate({ jobId });
    expect(off).toMatchObject({ changed: true, job: { isEnabled: false } });
    expect(await auditEntry('sync_job.disabled')).toMatchObject({
      actorUserId: h.admin.id,
      targets: { instanceId, jobId },
    });
    const refused = await trpcErrorOf(h.admin.client.sync.runNow.mutate({ jobId }));
    expect(refused).toMatchObject({ code: 'PRECONDITION_FAILED' });
    expect(refused.data['reason']).toBe('job_disabled');
    const on = await h.admin.client.sync.enableJob.mutate({ jobId });
    expect(on).toMatchObject({ changed: true, job: { isEnabled: true } });
    expect(await auditEntry('sync_job.enabled')).toMatchObject({ actorUserId: h.admin.id });
  });

  it('needs settings.edit to change or run a job, and a session to read', async () => {
    for (const call of [
      () => h.member.client.sync.runNow.mutate({ jobId }),
      () => h.member.client.sync.disableJob.mutate({ jobId }),
      () => h.viewer.client.sync.enableJob.mutate({ jobId }),
    ]) {
      expect((await trpcErrorOf(call())).code).toBe('FORBIDDEN');
    }
    expect((await trpcErrorOf(h.anonymous.sync.listJobs.query({ instanceId }))).code).toBe(
      'UNAUTHORIZED',
    );
    const bad = await trpcErrorOf(h.admin.client.sync.listJobs.query({ instanceId: 'nope' }));
    expect(bad.code).toBe('BAD_REQUEST');
    // Nothing changed.
    const [job] = (await h.member.client.sync.listJobs.query({ instanceId })).jobs;
    expect(job!.job.isEnabled).toBe(true);
  });

  it("answers NOT_FOUND for another org's instance, job and execution", async () => {
    const { executions } = await h.admin.client.sync.listExecutions.query({ jobId });
    const executionId = executions[0]!.id;
    const other = h.otherAdmin.client.sync;
    for (const call of [
      () => other.listJobs.query({ instanceId }),
      () => other.listExecutions.query({ jobId }),
      () => other.getExecution.query({ executionId }),
      () => other.runNow.mutate({ jobId }),
      () => other.disableJob.mutate({ jobId }),
      () => other.enableJob.mutate({ jobId }),
    ]) {
      expect((await trpcErrorOf(call())).code).toBe('NOT_FOUND');
    }
    const [job] = (await h.member.client.sync.listJobs.query({ instanceId })).jobs;
    expect(job!.job.isEnabled).toBe(true);
  });
});
