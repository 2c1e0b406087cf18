import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  AppError,
  RETRYABLE_CODES,
  WEBHOOK_MAX_BODY_BYTES,
  ZUuid,
  ZVendor,
  type TWebhookRefusalReason,
} from '@otesse/contracts';
import { newTraceId } from '@otesse/messaging';
import { webhookTimestampFresh, webhookTimestampHeader, type TWebhooks } from '@otesse/providers';
import { counter } from '@otesse/telemetry';
import { databaseErrorToAppError } from '@otesse/persistence';
import { clientIp, type TEdgeDeps } from '../trpc/context';
import { rateLimitedError } from '../http/rate-limiter';
import { webhookFailureKey } from '../http/edge-limits';
import { sendAppError } from '../http/http-errors';
import type { THttpRoute } from '../http/http-route';
import {
  claimDelivery,
  markPublished,
  releaseClaim,
  WEBHOOK_TIMESTAMP_TOLERANCE_MS,
  type TClaim,
  type TDeliveryKey,
} from './seen-deliveries';

/** `/webhooks/<vendor>/<instanceId>`: the path each instance's endpoint row names. */
const PATH = /^\/webhooks\/([^/?]+)\/([^/?]+)(?:\?.*)?$/;

export const webhookDeliveries = counter(
  'otesse_webhook_deliveries_total',
  'Inbound webhook deliveries by provider and outcome (accepted; duplicate: stored once by JetStream; replayed: published before, answered and not published again; deferred_in_flight; refused_<reason>).',
  ['vendor', 'outcome'],
);

/** Reads the raw body, at most `max` bytes: undefined when it is longer (the rest is not read). */
async function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      req.resume();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

const header = (req: IncomingMessage, name: string): string | null => {
  const v = req.headers[name.toLowerCase()];
  return typeof v === 'string' && v !== '' ? v : null;
};

/**
 * `POST /webhooks/<vendor>/<instanceId>`: a provider's delivery to an instance's inbound endpoint.
 *
 * In this order, so nothing about an endpoint is told to a caller who cannot sign for it: the provider must have
 * a signature scheme in the catalogue (404); the body must fit (413) and be text (400); the endpoint must exist
 * (404); the signature (and its timestamp, where the provider signs one: within 5 minutes) must check out against
 * the instance's secret, which the vault holds and checks (401, whatever the cause: no secret set, wrong secret,
 * stale; the log says which, and the endpoint keeps when and why for its admins); then a disabled endpoint — its instance disconnected: disabled and kept, seed 000 —
 * answers 410 Gone, which tells the provider to stop. An accepted delivery is published on JetStream
 * (`integrations.webhook.received`) before the 202, so a 2xx means it is stored; a provider's retry of the same
 * delivery (its delivery id, else the same body) within the stream's duplicate window is stored once. Every HMAC
 * scheme's verified deliveries are recorded by what was signed (`seen-deliveries.ts`: endpoint, body SHA-256,
 * signed timestamp) for EDGE_WEBHOOK_DEDUPE_RETENTION_MS where the body alone is signed, 15 minutes where a
 * timestamp is (a copy is stale by then): a copy of a published one — a provider's late retry, or a captured
 * delivery replayed, under any delivery id — is answered 202 `duplicate` and not published again. Refused
 * signatures are charged to the client IP and this endpoint, in buckets apart from bearer tokens' (a provider
 * sends every customer's deliveries from the same few addresses: one org's wrong secret must not stop another's
 * deliveries or API calls); past the limit, that address gets 429 on this endpoint before any verification, even
 * for a good signature: a right guess must not get through (basic schemes send an admin-chosen password), and a
 * guesser costs no vault call. Deliveries to endpoints that do not exist are charged to the client IP alone: past
 * that allowance the address gets 429 before its body is read or the endpoint looked up, except on endpoints this
 * edge served in the last 10 minutes (a provider's address that also delivers to a deleted instance keeps
 * delivering to the live ones). A service or JetStream that cannot answer makes it 503: the provider retries
 * later, and nothing was published.
 */
/** A malformed escape (`%E0%A4%A`) names no endpoint: a 404 like any unknown path, not a 500 and an error log. */
function decodePathSegment(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

export const receiveWebhookRoute: THttpRoute = async (req, res, deps) => {
  const m = PATH.exec(req.url ?? '');
  if (!m) return false;
  const [, vendorRaw = '', instanceRaw = ''] = m;
  const vendor = ZVendor.safeParse(decodePathSegment(vendorRaw));
  const instanceId = ZUuid.safeParse(decodePathSegment(instanceRaw));
  const def =
    vendor.success && deps.catalogue.has(vendor.data) ? deps.catalogue.get(vendor.data) : null;
  // Only the catalogue's keys become label values: a path is anyone's to make up.
  const label = def?.key ?? 'unknown';
  const refuse = (err: AppError, outcome: string, status?: number): true => {
    webhookDeliveries.labels(label, outcome).inc();
    sendAppError(res, err, status === undefined ? {} : { status });
    return true;
  };
  if (req.method !== 'POST') {
    req.resume();
    return refuse(
      new AppError('BAD_REQUEST', 'webhook deliveries are POST requests', {
        reason: 'method_not_allowed',
      }),
      'refused_method',
      405,
    );
  }
  const scheme = def?.webhooks;
  const ip = clientIp(req, deps.limits.trustedProxyHops) ?? 'unknown';
  if (!vendor.success || !instanceId.success || !scheme) {
    req.resume();
    deps.limits.webhookUnknown.take(ip);
    return refuse(new AppError('NOT_FOUND', 'no such webhook endpoint'), 'refused_unknown');
  }
  // An address that keeps naming endpoints that do not exist (random instance ids) costs a body read and a lookup
  // in the connection service each time: past its allowance, only endpoints this edge found recently are served.
  const endpointKey = `${vendor.data}/${instanceId.data}`;
  if (!deps.limits.knownWebhookEndpoints.has(endpointKey)) {
    const probing = deps.limits.webhookUnknown.check(ip);
    if (!probing.ok) {
      req.resume();
      return refuse(
        rateLimitedError(deps.limits.webhookUnknown, probing.retryAfterSec),
        'refused_rate',
      );
    }
  }
  const failureKey = webhookFailureKey(ip, vendor.data, instanceId.data);
  const allowed = deps.limits.webhookFailures.check(failureKey);
  if (!allowed.ok) {
    req.resume();
    return refuse(
      rateLimitedError(deps.limits.webhookFailures, allowed.retryAfterSec),
      'refused_rate',
    );
  }
  const raw = await readBody(req, Math.min(WEBHOOK_MAX_BODY_BYTES, deps.limits.maxBodyBytes));
  if (raw === undefined) {
    return refuse(
      new AppError('PAYLOAD_TOO_LARGE', `webhook body exceeds ${WEBHOOK_MAX_BODY_BYTES} bytes`, {
        reason: 'body_too_large',
      }),
      'refused_too_large',
    );
  }
  let body: string;
  try {
    body = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    return refuse(
      new AppError('BAD_REQUEST', 'webhook body is not UTF-8 text', { reason: 'body_not_text' }),
      'refused_not_text',
    );
  }
  try {
    return await verifyAndPublish(deps, {
      req,
      res,
      refuse,
      vendor: vendor.data,
      instanceId: instanceId.data,
      scheme,
      failureKey,
      ip,
      raw,
      body,
    });
  } catch (caught) {
    // A service, JetStream or the edge's database briefly away: the provider should retry (they do on 5xx).
    const e = databaseErrorToAppError(caught) ?? caught;
    if (e instanceof AppError && RETRYABLE_CODES.has(e.code)) {
      deps.logger.warn(
        { err: e, vendor: vendor.data, instanceId: instanceId.data },
        'webhook delivery deferred',
      );
      return refuse(
        new AppError('UNAVAILABLE', 'cannot take this delivery now: retry later', {
          reason: 'unavailable',
        }),
        'refused_unavailable',
      );
    }
    throw e;
  }
};

/** The endpoint, the signature, its state; then the event and the 202. */
async function verifyAndPublish(
  deps: TEdgeDeps,
  d: {
    req: IncomingMessage;
    res: ServerResponse;
    refuse: (err: AppError, outcome: string, status?: number) => true;
    vendor: string;
    instanceId: string;
    scheme: TWebhooks;
    /** The client IP and this endpoint: what a refusal is charged to. */
    failureKey: string;
    /** The client IP: what a delivery to an endpoint that does not exist is charged to. */
    ip: string;
    raw: Buffer;
    body: string;
  },
): Promise<true> {
  const { req, res, refuse, scheme, failureKey, raw, body } = d;
  const traceId = newTraceId();
  const busCtx = { traceId };
  let resolved;
  try {
    resolved = await deps.bus.request(
      'connection.webhook-endpoints.resolve',
      { instanceId: d.instanceId, vendor: d.vendor },
      { ctx: busCtx },
    );
  } catch (e) {
    if (e instanceof AppError && e.code === 'NOT_FOUND') {
      deps.limits.webhookUnknown.take(d.ip);
      return refuse(new AppError('NOT_FOUND', 'no such webhook endpoint'), 'refused_unknown');
    }
    throw e;
  }
  deps.limits.knownWebhookEndpoints.add(`${d.vendor}/${d.instanceId}`);
  const { orgId, endpoint } = resolved;
  const signature = header(req, scheme.signature.header);
  const timestampHeader = webhookTimestampHeader(scheme.signature);
  const timestamp = timestampHeader ? header(req, timestampHeader) : null;
  let why: TWebhookRefusalReason | null;
  let signedWith: 'current' | 'previous' | null = null;
  if (signature === null) why = 'signature_missing';
  else if (timestampHeader && timestamp === null) why = 'timestamp_missing';
  else if (
    timestamp !== null &&
    !webhookTimestampFresh(timestamp, Date.now(), WEBHOOK_TIMESTAMP_TOLERANCE_MS)
  )
    why = 'timestamp_stale';
  else {
    const verified = await deps.bus.request(
      'vault.webhook-signatures.verify',
      {
        orgId,
        instanceId: endpoint.instanceId,
        vendor: d.vendor,
        bodyBase64: raw.toString('base64'),
        signature: signature.slice(0, 1024),
        timestamp: timestamp?.slice(0, 64) ?? null,
        // As the provider called it: the public URL the endpoint was registered with (HubSpot signs it).
        url: `${deps.publicUrl}${req.url ?? ''}`.slice(0, 2048),
      },
      { ctx: { ...busCtx, orgId } },
    );
    why = verified.outcome === 'valid' ? null : `signature_${verified.outcome}`;
    signedWith = verified.secret;
  }
  if (why !== null) {
    deps.limits.webhookFailures.take(failureKey);
    // The operator's clue (a secret not set yet, or the wrong one pasted); the caller only learns "unauthorized".
    deps.logger.warn(
      { orgId, instanceId: endpoint.instanceId, vendor: d.vendor, reason: why, traceId },
      'webhook delivery refused',
    );
    // And the admin's, on the endpoint (when and why, nothing of the delivery). Not awaited: the 401 does not wait.
    deps.bus
      .request(
        'connection.webhook-endpoints.record-refusal',
        {
          orgId,
          instanceId: endpoint.instanceId,
          endpointId: endpoint.id,
          reason: why,
          at: new Date().toISOString(),
        },
        { ctx: { ...busCtx, orgId } },
      )
      .catch((err: unknown) =>
        deps.logger.warn({ err, orgId, traceId }, 'could not record the webhook refusal'),
      );
    return refuse(
      new AppError('UNAUTHORIZED', 'webhook signature did not verify', {
        reason: 'invalid_signature',
      }),
      `refused_${why}`,
    );
  }
  if (endpoint.status !== 'enabled') {
    return refuse(
      new AppError(
        'NOT_FOUND',
        'this endpoint is disabled: the integration was disconnected (it is enabled again on reconnect)',
        { reason: 'endpoint_disabled' },
      ),
      'refused_disabled',
      410,
    );
  }
  const deliveryId = scheme.deliveryIdHeader ? header(req, scheme.deliveryIdHeader) : null;
  const bodySha256 = createHash('sha256').update(raw).digest('hex');
  const knex = deps.orm.em.getConnection().getKnex();
  // What the provider signed, never an unsigned header (a replayer sets those at will): two genuine deliveries
  // differ in their bodies, or at least in their signed timestamps.
  const key: TDeliveryKey = {
    endpointId: endpoint.id,
    bodySha256,
    signedTimestamp: timestamp?.slice(0, 64) ?? '',
  };
  // Basic credentials sign nothing: whoever holds them posts any body, so a record of copies guards against no
  // replay, and it would drop a genuine second delivery whose body repeats (a ServiceNow rule posting the same
  // fields for two changes). Those rely on JetStream's window for a provider's quick retries.
  const claim: TClaim =
    scheme.signature.kind === 'basic' ? { kind: 'unrecorded' } : await claimDelivery(knex, key);
  const logFields = {
    orgId,
    instanceId: endpoint.instanceId,
    vendor: d.vendor,
    deliveryId,
    bodySha256,
    signedWith,
    traceId,
  };
  if (claim.kind === 'in_flight') {
    // A copy arriving while another request publishes it: answered only once that one is done, or failed.
    return refuse(
      new AppError('UNAVAILABLE', 'this delivery is being taken: retry later', {
        reason: 'unavailable',
      }),
      'deferred_in_flight',
    );
  }
  if (claim.kind === 'published') {
    // 2xx, so a provider's genuine retry stops; nothing is published again, whoever sent it.
    webhookDeliveries.labels(d.vendor, 'replayed').inc();
    deps.logger.warn(
      { ...logFields, firstReceivedAt: claim.firstReceivedAt.toISOString() },
      'webhook delivery duplicate: published before, not published again',
    );
    return accepted(res, true);
  }
  const contentType = header(req, 'content-type');
  let duplicate: boolean;
  try {
    ({ duplicate } = await deps.events.publish(
      'integrations.webhook.received',
      {
        eventId: randomUUID(),
        occurredAt: new Date().toISOString(),
        orgId,
        vendor: d.vendor,
        instanceId: endpoint.instanceId,
        endpointId: endpoint.id,
        deliveryId: deliveryId?.slice(0, 200) ?? null,
        contentType: contentType?.slice(0, 200) ?? null,
        body,
        bodySha256,
      },
      {
        msgId: `webhook:${endpoint.instanceId}:${deliveryId?.slice(0, 200) ?? bodySha256}`,
        ctx: { ...busCtx, orgId },
      },
    ));
  } catch (e) {
    // Not published: the provider's retry (after the 503) must be taken, not answered as a duplicate.
    if (claim.kind === 'claimed') {
      await releaseClaim(knex, key, claim.claimId).catch((err: unknown) =>
        deps.logger.warn({ err, orgId, traceId }, 'could not release the webhook delivery claim'),
      );
    }
    throw e;
  }
  // Stored on JetStream either way: a mark that fails leaves the claim to be taken over in a minute (one more
  // publish of this delivery at worst), not a delivery lost.
  if (claim.kind === 'claimed') {
    await markPublished(knex, key).catch((err: unknown) =>
      deps.logger.warn({ err, orgId, traceId }, 'could not mark the webhook delivery published'),
    );
  }
  webhookDeliveries.labels(d.vendor, duplicate ? 'duplicate' : 'accepted').inc();
  // signedWith 'previous': the provider has not switched to the new secret yet.
  deps.logger.info({ ...logFields, duplicate }, 'webhook delivery accepted');
  return accepted(res, duplicate);
}

function accepted(res: ServerResponse, duplicate: boolean): true {
  res
    .writeHead(202, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    .end(JSON.stringify({ accepted: true, duplicate }));
  return true;
}
