import { randomUUID } from 'node:crypto';
import type { TCredentialKind } from '@otesse/contracts';
import type { TProviderDef } from '@otesse/providers';
import { REVOCATION_TIMEOUT_MS } from '../sagas/disconnect.saga';
import type { TEdgeDeps } from '../trpc/context';

export interface TRefusedTokens {
  orgId: string;
  userId: string;
  provider: TProviderDef;
  subdomain: string | undefined;
  credentials: { kind: TCredentialKind; value: string; expiresAt: string | null }[];
  traceId: string;
}

/**
 * Tokens for an account we refuse (another account, tenant or site): they are never attached to a connection. They
 * go to the vault under a throwaway id only so the vault — the one place that revokes — can revoke and destroy them.
 * Best effort: the refusal stands whatever happens here, so a failure is logged, never thrown.
 */
export async function discardTokens(deps: TEdgeDeps, req: TRefusedTokens): Promise<void> {
  await revokeAndDestroy(deps, req).catch((e: unknown) =>
    deps.logger.warn({ err: e }, 'revoking refused tokens failed'),
  );
}

async function revokeAndDestroy(deps: TEdgeDeps, req: TRefusedTokens): Promise<void> {
  const scratch = randomUUID();
  const ctx = { traceId: req.traceId, actorUserId: req.userId, orgId: req.orgId };
  try {
    await deps.bus.request(
      'vault.credentials.store',
      {
        orgId: req.orgId,
        connectionId: scratch,
        vendor: req.provider.key,
        credentials: req.credentials,
        replace: false,
      },
      { ctx },
    );
    await deps.bus.request(
      'vault.tokens.revoke',
      {
        orgId: req.orgId,
        connectionId: scratch,
        vendor: req.provider.key,
        ...(req.subdomain ? { subdomain: req.subdomain } : {}),
        idempotencyKey: `refused:${scratch}:revoke`,
        timeoutMs: REVOCATION_TIMEOUT_MS,
      },
      { ctx, timeoutMs: 2 * REVOCATION_TIMEOUT_MS + 2_000 },
    );
  } finally {
    await deps.bus
      .request(
        'vault.credentials.destroy',
        { orgId: req.orgId, connectionId: scratch, idempotencyKey: `refused:${scratch}:destroy` },
        { ctx },
      )
      .catch((e: unknown) => deps.logger.warn({ err: e }, 'destroying refused tokens failed'));
  }
}
