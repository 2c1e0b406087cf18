import { AppError } from '@otesse/contracts';
import { authedProcedure } from '../../trpc/trpc';
import { readSiteChoice } from '../../oauth/pending-authorizations';
import { ZGetSiteChoiceInput, ZGetSiteChoiceOutput } from './get-site-choice.schema';

/**
 * The sites an account reached when its connect was refused for its site (Atlassian), which the dashboard's picker
 * offers an admin. The edge keeps them with the pending authorization and sends the browser back with its id
 * only, so the list comes from the provider, never from a URL someone crafted. Only the user who started that
 * connect, in that org, reads it, for the pending authorization's lifetime after the callback: NOT_FOUND otherwise
 * (which one is not told).
 */
export const getSiteChoice = authedProcedure
  .input(ZGetSiteChoiceInput)
  .output(ZGetSiteChoiceOutput)
  .query(async ({ ctx, input }) => {
    const choice = await readSiteChoice(ctx.deps.orm, {
      pendingId: input.id,
      orgId: ctx.identity.orgId,
      userId: ctx.identity.userId,
    });
    if (!choice) {
      throw new AppError('NOT_FOUND', 'no such site choice: unknown, expired or not yours', {
        reason: 'site_choice_not_found',
      });
    }
    return choice;
  });
