import { TRPCError } from '@trpc/server';
import type { TIdentity } from '@otesse/identity';
import type { Catalogue } from '@otesse/providers';
import type { TSagaError, TSagaView } from '@otesse/saga';
import { operationsScope } from '../operations-router/operations-scope';

/**
 * The edge's code for a saga that compensated (nothing changed): a conflict stays one, a service away or too slow is
 * UNAVAILABLE (try again), anything else a precondition the request did not meet.
 */
export function compensatedCode(
  e: Pick<TSagaError, 'code'> | null | undefined,
): 'CONFLICT' | 'UNAVAILABLE' | 'PRECONDITION_FAILED' {
  if (e?.code === 'CONFLICT') return 'CONFLICT';
  return e?.code === 'UNAVAILABLE' || e?.code === 'TIMEOUT' ? 'UNAVAILABLE' : 'PRECONDITION_FAILED';
}

export function requireSagaView(v: TSagaView | undefined, orgId?: string): TSagaView {
  // Another org's saga looks exactly like a missing one.
  if (!v || (orgId !== undefined && v.orgId !== orgId))
    throw new TRPCError({ code: 'NOT_FOUND', message: 'saga not found' });
  return v;
}

/**
 * A saga the caller may read, with the scope of `operations.list`: the org's with settings.view or settings.edit,
 * otherwise only one they started or that acted on their own connection. Anything else is NOT_FOUND, as another
 * org's: a saga id seen elsewhere (a link, a log) tells a member nothing of a colleague's connection.
 */
export function requireVisibleSaga(v: TSagaView | undefined, identity: TIdentity): TSagaView {
  const view = requireSagaView(v, identity.orgId);
  const { participantUserId: me } = operationsScope(identity);
  if (me === undefined || view.actorUserId === me) return view;
  const target = view.steps[0]?.result?.['target'];
  const targetOwner =
    target !== null && typeof target === 'object' && 'ownerUserId' in target
      ? target.ownerUserId
      : undefined;
  if (view.input['ownerUserId'] === me || targetOwner === me) return view;
  throw new TRPCError({ code: 'NOT_FOUND', message: 'saga not found' });
}

/**
 * What a finished step did, where its status alone says too little (a code; the dashboard words it):
 * - `revoke-tokens`: `not_applicable` (an API-key provider: no OAuth tokens, seed 000's step 3 is for OAuth
 *   providers only), `not_supported` (an OAuth provider without a revocation endpoint), `grant_in_use` (left alone:
 *   another live connection uses the grant), `failed` (the provider refused or timed out; the disconnect went on).
 * - `mark-references-stale`: `scope_instance` or `scope_connection`, whose references it marks.
 */
export type TStepNote =
  | 'not_applicable'
  | 'not_supported'
  | 'grant_in_use'
  | 'failed'
  | 'scope_instance'
  | 'scope_connection';

const record = (x: unknown): Record<string, unknown> | null =>
  x !== null && typeof x === 'object' ? (x as Record<string, unknown>) : null;

function stepNote(
  v: TSagaView,
  step: TSagaView['steps'][number],
  catalogue: Pick<Catalogue, 'has' | 'get'> | undefined,
): TStepNote | null {
  if (v.type !== 'disconnect') return null;
  const lock = record(v.steps.find((s) => s.name === 'lock')?.result);
  if (step.name === 'revoke-tokens' && step.status === 'succeeded') {
    const r = step.result ?? {};
    if (r['revocationSkipped']) return 'grant_in_use';
    if (r['supported'] === false) {
      const vendor = record(lock?.['target'])?.['vendor'];
      const apiKey =
        typeof vendor === 'string' && catalogue?.has(vendor)
          ? catalogue.get(vendor).authKind === 'apiKey'
          : // Without the catalogue: an API-key provider's report lists no token at all.
            Array.isArray(r['results']) && r['results'].length === 0;
      return apiKey ? 'not_applicable' : 'not_supported';
    }
    return r['succeeded'] === false ? 'failed' : null;
  }
  if (step.name === 'mark-references-stale') {
    // The saga's own rule per version (disconnect.saga.ts): from version 3 the instance's when the lock held the
    // instance (its last live connection); version 2 always the connection's; version 1 the instance's once revoked.
    if (v.definitionVersion >= 3) {
      if (!lock) return null;
      return lock['instanceRevoking'] === true ? 'scope_instance' : 'scope_connection';
    }
    if (v.definitionVersion === 2) return 'scope_connection';
    const statuses = record(v.steps.find((s) => s.name === 'update-statuses')?.result);
    if (!statuses) return null;
    return statuses['instanceRevoked'] === true ? 'scope_instance' : 'scope_connection';
  }
  return null;
}

/**
 * What the dashboard shows of a saga: its timeline, never its raw input (which holds the client IP) nor its steps'
 * raw results (a step's `note` says what the dashboard needs of them). With the catalogue, a step note can tell an
 * API-key provider from an OAuth one.
 */
export function publicSagaView(v: TSagaView, catalogue?: Pick<Catalogue, 'has' | 'get'>) {
  return {
    id: v.id,
    type: v.type,
    status: v.status,
    currentStep: v.currentStep,
    connectionId: typeof v.input['connectionId'] === 'string' ? v.input['connectionId'] : null,
    actorUserId: v.actorUserId,
    result: v.result,
    error: v.error,
    createdAt: v.createdAt,
    completedAt: v.completedAt,
    /** Stopped past its pivot: waits for operations.resume (or another disconnect of its connection). */
    needsResume: v.status === 'failed',
    timesResumed: v.resumedCount,
    steps: v.steps.map((s) => ({
      name: s.name,
      kind: s.kind,
      status: s.status,
      attempts: s.attempts,
      error: s.error,
      startedAt: s.startedAt,
      completedAt: s.completedAt,
      compensatedAt: s.compensatedAt,
      note: stepNote(v, s, catalogue),
    })),
  };
}
export type TPublicSagaView = ReturnType<typeof publicSagaView>;
