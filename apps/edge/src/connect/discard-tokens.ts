import { randomUUID } from 'node:crypto';
import type { TCredentialInput } from '@otesse/contracts';
import type { TProviderDef } from '@otesse/providers';
import { REVOCATION_TIMEOUT_MS } from '../sagas/disconnect.saga';
import type { TEdgeDeps } from '../trpc/context';

export interface TRefusedTokens {
  orgId: string;
  userId: string;
  provider: TProviderDef;
  subdomain: string | undefined;
  credentials: TCredentialInput[];
  traceId: string;
}

/**
 * Tokens for an account we refuse (another account, tenant or site): they are never attached to a connection. The
 * vault — the one place that revokes — takes them over (`vault.tokens.discard`): it revokes and destroys them
 * before it answers, and from the moment it stored them it finishes them whatever happens to this edge or to it.
 * Best effort: the refusal stands whatever happens here, so a failure is logged, never thrown.
 */
export async function discardTokens(deps: TEdgeDeps, req: TRefusedTokens): Promise<void> {
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
