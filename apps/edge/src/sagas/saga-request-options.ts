/** Bus options for a saga command: the saga's trace, the actor and org, the idempotency key, a bound. */
export function sagaRequestOptions(
  input: { traceId: string },
  actorUserId: string,
  orgId: string,
  idempotencyKey: string,
  timeoutMs = 5_000,
) {
  return { ctx: { traceId: input.traceId, actorUserId, orgId, idempotencyKey }, timeoutMs };
}
