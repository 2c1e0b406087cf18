import type { TCredentialInput } from '@otesse/contracts';
import type { TEdgeDeps } from '../trpc/context';
import { retryWhileUnavailable } from './complete-connection';

/** A callback's tokens as the vault holds them (`vault.tokens.stage`), and what discarding them needs. */
export interface TStagedTokens {
  stageId: string;
  orgId: string;
  userId: string;
  vendor: string;
  subdomain: string | undefined;
  traceId: string;
}

/**
 * Hands the tokens a callback just obtained to the vault, before anything else is asked of anyone: from here a
 * connect stores them by `stageId`, a reconnect's saga swaps them in by it, a refusal discards them by it, and if
 * this edge dies first the vault's sweep revokes and destroys them once `holdSec` ends. They never live only in this
 * process. A vault (or its database) briefly away is waited for, as a saga's steps would: the user is at the
 * callback, and the provider's code cannot be exchanged twice. Throws when the vault did not take them.
 */
export async function stageCallbackTokens(
  deps: Pick<TEdgeDeps, 'bus'>,
  req: Omit<TStagedTokens, 'stageId'> & { credentials: TCredentialInput[]; holdSec: number },
  idempotencyKey: string,
): Promise<TStagedTokens> {
  const { stageId } = await retryWhileUnavailable(() =>
    deps.bus.request(
      'vault.tokens.stage',
      {
        orgId: req.orgId,
        vendor: req.vendor,
        ...(req.subdomain ? { subdomain: req.subdomain } : {}),
        credentials: req.credentials,
        holdSec: req.holdSec,
        // Not of a saga's key form (`<sagaId>:<step>`): no saga's release names it; the vault's retention purges
        // it with other commands' keys.
        idempotencyKey,
      },
      { ctx: { traceId: req.traceId, actorUserId: req.userId, orgId: req.orgId } },
    ),
  );
  return {
    stageId,
    orgId: req.orgId,
    userId: req.userId,
    vendor: req.vendor,
    subdomain: req.subdomain,
    traceId: req.traceId,
  };
}
