import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import { databaseTimeIn } from '@otesse/persistence';

export const PENDING_TTL_MS = 10 * 60_000;

export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

export function randomKey(): string {
  return randomBytes(32).toString('base64url');
}

export interface TPendingRow {
  id: string;
  org_id: string;
  user_id: string;
  vendor: string;
  flow: 'app' | 'user';
  action: 'reconnect' | 'changeUser' | null;
  target_connection_id: string | null;
}

function knex(orm: MikroORM) {
  return orm.em.getConnection().getKnex();
}

/** Records who asked for which authorization; returns the one-time start key (only its hash is stored). */
export async function createPending(
  orm: MikroORM,
  input: {
    orgId: string;
    userId: string;
    vendor: string;
    flow: 'app' | 'user';
    action: 'reconnect' | 'changeUser' | null;
    targetConnectionId: string | null;
  },
): Promise<{ startKey: string; expiresAt: Date }> {
  const startKey = randomKey();
  const k = knex(orm);
  // Times in the database's clock: the replica that receives the callback judges what another one wrote.
  const [row] = (await k('pending_authorization')
    .withSchema('edge')
    .insert({
      id: randomUUID(),
      start_key_hash: sha256(startKey),
      state_hash: null,
      binding_hash: null,
      org_id: input.orgId,
      user_id: input.userId,
      vendor: input.vendor,
      flow: input.flow,
      action: input.action,
      target_connection_id: input.targetConnectionId,
      created_at: k.fn.now(),
      expires_at: databaseTimeIn(k, PENDING_TTL_MS),
      started_at: null,
      completed_at: null,
      outcome: null,
    })
    .returning('expires_at')) as { expires_at: Date | string }[];
  return { startKey, expiresAt: new Date(row!.expires_at) };
}

/** What the confirmation page names: who asked, in which org, for what. */
export interface TPendingSummary {
  vendor: string;
  flow: 'app' | 'user';
  action: 'reconnect' | 'changeUser' | null;
  orgName: string | null;
  userEmail: string | null;
  userName: string | null;
}

/**
 * An authorization that can still be started (unknown, expired or started ones are refused as `startPending`
 * refuses them), with the org and user it was asked for — read, not claimed: opening the link starts nothing.
 */
export async function peekPending(orm: MikroORM, startKey: string): Promise<TPendingSummary> {
  const k = knex(orm);
  const row = (await k('pending_authorization as p')
    .withSchema('edge')
    .leftJoin('org as o', 'o.id', 'p.org_id')
    .leftJoin('app_user as u', 'u.id', 'p.user_id')
    .where('p.start_key_hash', sha256(startKey))
    .whereNull('p.started_at')
    .andWhere('p.expires_at', '>', k.fn.now())
    .first(
      'p.vendor',
      'p.flow',
      'p.action',
      'o.name as orgName',
      'u.email as userEmail',
      'u.name as userName',
    )) as TPendingSummary | undefined;
  if (!row) throw invalidStart();
  return row;
}

function invalidStart(): AppError {
  return new AppError(
    'BAD_REQUEST',
    'this authorization link is unknown, expired or already used',
    {
      reason: 'invalid_start',
    },
  );
}

/**
 * The browser confirmed the start (or the dashboard posted it): bind the authorization to that browser (a secret
 * only its cookie holds) and to the OAuth state about to be sent. Single use: a second open of the same URL is refused.
 */
export async function startPending(
  orm: MikroORM,
  startKey: string,
): Promise<{ pending: TPendingRow; state: string; binding: string }> {
  const state = randomKey();
  const binding = randomKey();
  const k = knex(orm);
  const rows = (await k('pending_authorization')
    .withSchema('edge')
    .where({ start_key_hash: sha256(startKey) })
    .whereNull('started_at')
    .andWhere('expires_at', '>', k.fn.now())
    .update({ started_at: k.fn.now(), state_hash: sha256(state), binding_hash: sha256(binding) })
    .returning([
      'id',
      'org_id',
      'user_id',
      'vendor',
      'flow',
      'action',
      'target_connection_id',
    ])) as TPendingRow[];
  const pending = rows[0];
  if (!pending) throw invalidStart();
  return { pending, state, binding };
}

export type TClaimFailure = 'unknown_state' | 'wrong_browser' | 'expired' | 'already_used';

/**
 * The callback came back: claim the authorization exactly once, only from the browser that started it and only
 * before it expires. Nothing is exchanged or stored unless this succeeds.
 */
export async function claimPending(
  orm: MikroORM,
  state: string | null,
  binding: string | undefined,
): Promise<
  { ok: true; pending: TPendingRow } | { ok: false; reason: TClaimFailure; pendingId?: string }
> {
  if (!state || state.length > 200) return { ok: false, reason: 'unknown_state' };
  const k = knex(orm);
  const row = (await k('pending_authorization')
    .withSchema('edge')
    .where({ state_hash: sha256(state) })
    .first('*', k.raw('expires_at <= now() as expired'))) as
    | (TPendingRow & {
        binding_hash: string | null;
        completed_at: Date | null;
        expired: boolean;
      })
    | undefined;
  if (!row) return { ok: false, reason: 'unknown_state' };
  if (row.completed_at) return { ok: false, reason: 'already_used', pendingId: row.id };
  if (!binding || row.binding_hash !== sha256(binding))
    return { ok: false, reason: 'wrong_browser', pendingId: row.id };
  if (row.expired) return { ok: false, reason: 'expired', pendingId: row.id };
  const claimed = await k('pending_authorization')
    .withSchema('edge')
    .where({ id: row.id })
    .whereNull('completed_at')
    .andWhere('expires_at', '>', k.fn.now())
    .update({ completed_at: k.fn.now(), outcome: 'claimed' })
    .returning('id');
  if (claimed.length === 0) return { ok: false, reason: 'already_used', pendingId: row.id };
  return { ok: true, pending: row };
}

/** A site the account reaches, as the site picker offers it. */
export interface TSiteOption {
  id: string;
  name: string;
}

/** The outcome support reads; after a site refusal, also the sites the picker offers (`readSiteChoice`). */
export async function setOutcome(
  orm: MikroORM,
  pendingId: string,
  outcome: string,
  sites?: readonly TSiteOption[],
): Promise<void> {
  await knex(orm)('pending_authorization')
    .withSchema('edge')
    .where({ id: pendingId })
    .update({
      outcome: outcome.slice(0, 64),
      ...(sites ? { sites: JSON.stringify(sites.map(({ id, name }) => ({ id, name }))) } : {}),
    });
}

export interface TSiteChoice {
  vendor: string;
  flow: 'app' | 'user';
  /** The refusal (`site_choice_required`, `site_not_reachable`). */
  reason: string;
  sites: TSiteOption[];
}

/**
 * The sites a refused connect's account reaches, for the dashboard's picker: only to the user who started that
 * connect, in that org, and for the pending authorization's lifetime (10 minutes) after its callback. Anything
 * else (another user or org, an unknown id, no site refusal, too late): null.
 */
export async function readSiteChoice(
  orm: MikroORM,
  q: { pendingId: string; orgId: string; userId: string },
): Promise<TSiteChoice | null> {
  const k = knex(orm);
  const row = (await k('pending_authorization')
    .withSchema('edge')
    .where({ id: q.pendingId, org_id: q.orgId, user_id: q.userId })
    .whereNotNull('sites')
    .andWhere(k.raw(`completed_at + ? * interval '1 millisecond' > now()`, [PENDING_TTL_MS]))
    .first('vendor', 'flow', 'outcome', 'sites')) as
    | { vendor: string; flow: 'app' | 'user'; outcome: string | null; sites: TSiteOption[] }
    | undefined;
  if (!row) return null;
  return {
    vendor: row.vendor,
    flow: row.flow,
    reason: (row.outcome ?? '').replace(/^refused:/, ''),
    sites: row.sites,
  };
}
