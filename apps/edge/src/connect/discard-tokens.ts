import { randomUUID } from 'node:crypto';
import type { TCredentialInput } from '@otesse/contracts';
import type { TProviderDef } from '@otesse/providers';
import { REVOCATION_TIMEOUT_MS } from '../sagas/disconnect.saga';
import type { TEdgeDeps } from '../trpc/context';
import { grantHoldersOfAccount } from './grant-in-use';
import type { TStagedTokens } from './stage-tokens';

/** Tokens no connection takes, as the vault's discard needs them. */
export interface TTokensToDiscard {
  orgId: string;
  userId: string;
  vendor: string;
  subdomain: string | undefined;
  credentials: TCredentialInput[];
  traceId: string;
  /** The account the tokens are of, when it was read: a grant still in use by it is not revoked. */
  externalAccountId?: string | undefined;
}

export interface TRefusedTokens extends Omit<TTokensToDiscard, 'vendor'> {
  provider: TProviderDef;
}

type TDiscardDeps = Pick<TEdgeDeps, 'bus' | 'catalogue' | 'logger'>;

/**
 * A provider whose revocation ends the user's whole grant to our client (catalogue `revocationScope: 'grant'`,
 * Google) would also end every live connection of that account, in any org (one OAuth client per vendor): when one
 * holds it, the tokens are not revoked (destroyed only, or dropped when never stored). An account that could not be
 * read (the identity read failed) and a failed lookup count as in use: not revoking is the error that harms no one.
 */
async function grantStillInUse(
  deps: TDiscardDeps,
  req: Omit<TTokensToDiscard, 'credentials'>,
): Promise<boolean> {
  if (!deps.catalogue.revokesWholeGrant(req.vendor)) return false;
  if (req.externalAccountId === undefined) return true;
  try {
    const holders = await grantHoldersOfAccount(
      deps,
      { orgId: req.orgId, vendor: req.vendor, externalAccountId: req.externalAccountId },
      { traceId: req.traceId, actorUserId: req.userId, orgId: req.orgId },
    );
    return holders.connected + holders.pending + holders.disconnecting > 0;
  } catch {
    return true;
  }
}

/**
 * `vault.tokens.discard` of `req`'s org and provider with `what` (the tokens, or a stage's id): the vault revokes and
 * destroys before it answers, so the wait covers two bounded revocation calls in parallel, then the destruction.
 */
function requestDiscard(
  deps: TDiscardDeps,
  req: Omit<TTokensToDiscard, 'credentials'>,
  what: { credentials: TCredentialInput[] } | { stageId: string; revoke: boolean },
  idempotencyKey: string,
) {
  return deps.bus.request(
    'vault.tokens.discard',
    {
      orgId: req.orgId,
      vendor: req.vendor,
      ...(req.subdomain ? { subdomain: req.subdomain } : {}),
      ...what,
      idempotencyKey,
    },
    {
      ctx: { traceId: req.traceId, actorUserId: req.userId, orgId: req.orgId },
      timeoutMs: 2 * REVOCATION_TIMEOUT_MS + 2_000,
    },
  );
}

/**
 * Hands tokens no connection takes to the vault — the one place that revokes — under `idempotencyKey`
 * (`vault.tokens.discard`): it revokes and destroys them before it answers, and from the moment it stored them it
 * finishes them whatever happens to this edge or to it. Throws when the vault did not take them: a caller that must
 * not lose them (a saga's hook) tries again under the same key, which the vault answers once.
 */
export async function handTokensToVault(
  deps: TDiscardDeps,
  req: TTokensToDiscard,
  idempotencyKey: string,
): Promise<void> {
  if (await grantStillInUse(deps, req)) {
    deps.logger.info(
      { vendor: req.vendor, orgId: req.orgId, traceId: req.traceId },
      "refused tokens dropped, not revoked: the provider would end the account's whole grant, which a live connection uses",
    );
    return;
  }
  await requestDiscard(deps, req, { credentials: req.credentials }, idempotencyKey);
}

/**
 * Tokens for an account we refuse (another account, tenant or site): they are never attached to a connection, and
 * go to the vault under a key of their own. Best effort: the refusal stands whatever happens here, so a failure is
 * logged, never thrown.
 */
export async function discardTokens(deps: TDiscardDeps, req: TRefusedTokens): Promise<void> {
  await handTokensToVault(
    deps,
    { ...req, vendor: req.provider.key },
    `refused:${randomUUID()}`,
  ).catch((e: unknown) =>
    deps.logger.warn({ err: e }, 'handing refused tokens to the vault failed'),
  );
}

/**
 * The tokens a callback staged in the vault (`vault.tokens.stage`), discarded now rather than
 * when their hold ends: revoked and destroyed, or only destroyed where revoking would end a grant a live connection
 * uses. Under `idempotencyKey`; throws when the vault did not answer (the caller retries under the same key).
 */
export async function discardStagedTokens(
  deps: TDiscardDeps,
  req: Omit<TTokensToDiscard, 'credentials'> & { stageId: string },
  idempotencyKey: string,
): Promise<void> {
  const revoke = !(await grantStillInUse(deps, req));
  await requestDiscard(deps, req, { stageId: req.stageId, revoke }, idempotencyKey);
}

/**
 * `discardStagedTokens` for a caller whose answer stands whatever happens here (a refusal, a failed connect):
 * under the stage's own key, so every such caller of one stage is answered once; a failure is logged, and the
 * vault discards the stage when its hold ends.
 */
export async function dropStagedTokens(
  deps: TDiscardDeps,
  staged: TStagedTokens,
  externalAccountId: string | undefined,
): Promise<void> {
  await discardStagedTokens(
    deps,
    { ...staged, ...(externalAccountId !== undefined ? { externalAccountId } : {}) },
    `discard-staged:${staged.stageId}`,
  ).catch((e: unknown) =>
    deps.logger.warn(
      { err: e, stageId: staged.stageId },
      'discarding staged tokens failed; the vault discards them when their hold ends',
    ),
  );
}
