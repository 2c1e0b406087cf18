import { randomUUID } from 'node:crypto';
import type { TCredentialInput } from '@otesse/contracts';
import type { TProviderDef } from '@otesse/providers';
import { REVOCATION_TIMEOUT_MS } from '../sagas/disconnect.saga';
import type { TEdgeDeps } from '../trpc/context';
import { grantHoldersOfAccount, revokesWholeGrant } from './grant-in-use';

export interface TRefusedTokens {
  orgId: string;
  userId: string;
  provider: TProviderDef;
  subdomain: string | undefined;
  credentials: TCredentialInput[];
  traceId: string;
  /** The account the tokens are of, when it was read: a grant still in use by it is not revoked. */
  externalAccountId?: string | undefined;
}

/**
 * A provider whose revocation ends the user's whole grant to our client (catalogue `revocationScope: 'grant'`,
 * Google) would also end every live connection of that account, in any org (one OAuth client per vendor): when one
 * holds it, the refused tokens — never stored — are only dropped. A failed lookup counts as in use: dropping is the
 * error that harms no one.
 */
async function grantStillInUse(deps: TEdgeDeps, req: TRefusedTokens): Promise<boolean> {
  if (!revokesWholeGrant(deps.catalogue, req.provider.key) || req.externalAccountId === undefined)
    return false;
  try {
    const holders = await grantHoldersOfAccount(
      deps,
      { orgId: req.orgId, vendor: req.provider.key, externalAccountId: req.externalAccountId },
      { traceId: req.traceId, actorUserId: req.userId, orgId: req.orgId },
    );
    return holders.connected + holders.pending + holders.disconnecting > 0;
  } catch {
    return true;
  }
}

/**
 * Tokens for an account we refuse (another account, tenant or site): they are never attached to a connection. The
 * vault — the one place that revokes — takes them over (`vault.tokens.discard`): it revokes and destroys them
 * before it answers, and from the moment it stored them it finishes them whatever happens to this edge or to it.
 * Best effort: the refusal stands whatever happens here, so a failure is logged, never thrown.
 */
export async function discardTokens(deps: TEdgeDeps, req: TRefusedTokens): Promise<void> {
  if (await grantStillInUse(deps, req)) {
    deps.logger.info(
      { vendor: req.provider.key, orgId: req.orgId, traceId: req.traceId },
      "refused tokens dropped, not revoked: the provider would end the account's whole grant, which a live connection uses",
    );
    return;
  }
  await deps.bus
    .request(
      'vault.tokens.discard',
      {
        orgId: req.orgId,
        vendor: req.provider.key,
        ...(req.subdomain ? { subdomain: req.subdomain } : {}),
        credentials: req.credentials,
        idempotencyKey: `refused:${randomUUID()}`,
      },
      {
        ctx: { traceId: req.traceId, actorUserId: req.userId, orgId: req.orgId },
        // Two revocation calls in parallel, each bounded, then the destruction.
        timeoutMs: 2 * REVOCATION_TIMEOUT_MS + 2_000,
      },
    )
    .catch((e: unknown) =>
      deps.logger.warn({ err: e }, 'handing refused tokens to the vault failed'),
    );
}
