import { requirePermission } from '../../trpc/trpc';
import { ZNoInput } from '../../trpc/no-input.schema';
import { busOptions } from '../../trpc/bus-options';

/** A long chain takes a while to walk (≈ 1 s per 100,000 entries): more than the Bus default. */
const VERIFY_TIMEOUT_MS = 120_000;

/** Walks the caller's org's audit hash chain and reports the first broken link (settings.view or settings.edit). */
export const verifyAuditChain = requirePermission('settings.view', 'settings.edit')
  .input(ZNoInput)
  .query(async ({ ctx }) =>
    ctx.deps.bus.request(
      'audit.chain.verify',
      { orgId: ctx.identity.orgId },
      busOptions(ctx, { timeoutMs: VERIFY_TIMEOUT_MS }),
    ),
  );
