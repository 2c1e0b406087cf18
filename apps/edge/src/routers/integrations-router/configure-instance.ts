import { TRPCError } from '@trpc/server';
import { requirePermission } from '../../trpc/trpc';
import { assertAuditDetailsSafe, publishAudit } from '../../audit/publish-audit';
import { ZConfigureInstanceInput } from './configure-instance.schema';
import { busOptions } from '../../trpc/bus-options';

/**
 * Stores the instance's subdomain (ServiceNow, Zendesk) — the only place a subdomain ever comes from — or its site
 * (Atlassian: which of the sites a user's account reaches is the org's, chosen from the list a connect showed).
 */
export const configureInstance = requirePermission('settings.edit')
  .input(ZConfigureInstanceInput)
  .mutation(async ({ ctx, input }) => {
    const provider = ctx.deps.catalogue.get(input.vendor);
    if (input.subdomain !== undefined && !provider.oauth?.subdomain) {
      throw new TRPCError({
        code: 'BAD_REQUEST',
        message: `${provider.displayName} has no instance subdomain`,
      });
    }
    if (input.site !== undefined && provider.oauth?.identity.kind !== 'atlassian') {
      throw new TRPCError({
        code: 'BAD_REQUEST',
        message: `${provider.displayName} has no sites to choose from`,
      });
    }
    const config =
      input.subdomain !== undefined ? { subdomain: input.subdomain } : { site: input.site };
    // The entry's details are the input: checked before the change, so one the audit log would refuse changes nothing.
    assertAuditDetailsSafe(config, input.subdomain !== undefined ? 'the subdomain' : 'the site');
    const { instance } = await ctx.deps.bus.request(
      'connection.instances.configure',
      { orgId: ctx.identity.orgId, vendor: input.vendor, config },
      busOptions(ctx),
    );
    await publishAudit(ctx.deps, {
      orgId: ctx.identity.orgId,
      actorUserId: ctx.identity.userId,
      action: 'instance.configured',
      provider: input.vendor,
      targets: { instanceId: instance.id },
      outcome: 'success',
      details: config,
      ip: ctx.ip,
      traceId: ctx.traceId,
    });
    return {
      id: instance.id,
      status: instance.status,
      subdomain: instance.config.subdomain ?? null,
      site: instance.config.site ?? null,
    };
  });
