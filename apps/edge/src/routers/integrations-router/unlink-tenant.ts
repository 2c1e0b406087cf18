import { TRPCError } from '@trpc/server';
import { AppError } from '@otesse/contracts';
import type { TSagaView } from '@otesse/saga';
import { requirePermission } from '../../trpc/trpc';
import { unlinkTenantSaga, unlinkTenantSubject } from '../../sagas/unlink-tenant.saga';
import { compensatedCode, publicSagaView, requireSagaView } from '../disconnect-router/saga-view';
import { resumeStopped } from '../operations-router/resume-stopped';
import { ZUnlinkTenantInput } from './unlink-tenant.schema';
import { busOptions } from '../../trpc/bus-options';

/**
 * Unlinks the org's instance of a vendor from its tenant, as a saga (`unlink-tenant.saga.ts`): held, its synced data
 * erased, its pin cleared, audited, announced. One at a time per instance: a second request joins the running one
 * (a completed one is history: the instance may have been linked again since). Answers
 * with its final state when it finishes within `waitMs`; one that stopped past its pivot is resumed. Admins only
 * (settings.edit); another org's (or no) instance NOT_FOUND; a refusal of the hold changes nothing and says why
 * (`reason`: not_pinned, tenant_changed, instance_in_use, disconnect_in_progress, unlink_in_progress).
 */
export const unlinkTenant = requirePermission('settings.edit')
  .input(ZUnlinkTenantInput)
  .mutation(async ({ ctx, input }) => {
    const { identity } = ctx;
    const { instance } = await ctx.deps.bus.request(
      'connection.instances.get',
      { orgId: identity.orgId, vendor: input.vendor, withConnections: false },
      busOptions(ctx),
    );
    if (!instance) throw new TRPCError({ code: 'NOT_FOUND', message: 'integration not found' });
    const { sagaId, created } = await ctx.deps.sagas.start(unlinkTenantSaga(ctx.deps), {
      subjectKey: unlinkTenantSubject(identity.orgId, instance.id),
      orgId: identity.orgId,
      actorUserId: identity.userId,
      input: {
        instanceId: instance.id,
        vendor: instance.vendor,
        expectedTenantId: input.confirmTenantId,
        ip: ctx.ip,
        traceId: ctx.traceId,
      },
      // An unlink that stopped past its pivot (the data already erased) is this instance's: asking again resumes it.
      reuseFailed: true,
      // One in progress is joined; one that completed is not this request's: the instance may have been linked
      // (connected) again since, and a new unlink is asked for (its hold says `not_pinned` if it was not).
      reuseCompleted: false,
    });
    let saga = requireSagaView(await ctx.deps.sagas.waitFor(sagaId, input.waitMs));
    if (saga.status === 'failed') saga = await resumeStopped(ctx, saga, input.waitMs, true);
    if (saga.status === 'compensated') throw compensatedError(saga);
    return { sagaId, joined: !created, saga: publicSagaView(saga, ctx.deps.catalogue) };
  });

const HOLD_REFUSALS = new Set([
  'not_pinned',
  'tenant_changed',
  'instance_in_use',
  'disconnect_in_progress',
  'unlink_in_progress',
]);

/** Why a compensated unlink changed nothing, in the edge's vocabulary (the hold's own refusal where it was one). */
function compensatedError(saga: TSagaView): Error {
  const e = saga.error;
  if (e?.step === 'hold' && e.code === 'NOT_FOUND')
    return new TRPCError({ code: 'NOT_FOUND', message: 'integration not found' });
  if (e?.step === 'hold' && e.reason && HOLD_REFUSALS.has(e.reason)) {
    return new AppError(e.code === 'CONFLICT' ? 'CONFLICT' : 'PRECONDITION_FAILED', e.message, {
      reason: e.reason,
      details: { sagaId: saga.id },
    });
  }
  return new AppError(
    compensatedCode(e),
    `Unlink failed at "${e?.step ?? 'unknown'}" (${e?.message ?? 'unknown error'}); nothing was erased. Saga ${saga.id}.`,
    { reason: 'unlink_compensated', details: { sagaId: saga.id } },
  );
}
