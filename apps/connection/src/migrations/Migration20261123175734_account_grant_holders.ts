import { Migration } from '@mikro-orm/migrations';
import { reviseSql } from '@otesse/persistence';
import { BEGIN_DISCONNECT_V4 } from './Migration20261122124500_instance_revoking';

/**
 * begin_disconnect as this migration leaves it: its reply also says whether another connection, of any org, holds a
 * live grant of the same external account at the vendor (`accountGrantInUse`), and disconnects of one account answer
 * it one after the other.
 */
export const BEGIN_DISCONNECT_V5 = reviseSql(
  BEGIN_DISCONNECT_V4,
  [
    `  v_result := jsonb_build_object('connection', "connection".connection_json(c),`,
    `  -- Disconnects of one account take turns from here to their commit: each reads the others' \`disconnecting\`,
  -- so two at once never both answer "another holds the grant" and leave it unrevoked (the later one revokes).
  if c.external_account_id is not null then
    perform pg_advisory_xact_lock(hashtextextended('grant:' || c.vendor || ':' || c.external_account_id, 0));
  end if;
  v_result := jsonb_build_object('connection', "connection".connection_json(c),`,
  ],
  [
    `    'instanceRevoking', exists (select 1 from "connection".integration_instance
                                 where id = v_instance and revoking_saga_id = p_saga));`,
    `    'instanceRevoking', exists (select 1 from "connection".integration_instance
                                 where id = v_instance and revoking_saga_id = p_saga),
    -- Read here rather than by another request from the revoke step: one index probe, in any org, since a
    -- deployment has one OAuth client per vendor and so one grant per external account.
    'accountGrantInUse', c.external_account_id is not null and exists (
       select 1 from "connection".integration_connection o
        where o.vendor = c.vendor and o.external_account_id = c.external_account_id and o.id <> c.id
          and o.status in ('pending', 'connected')));`,
  ],
);

/**
 * Who else holds an external account's grant. A provider whose revocation ends the user's whole grant to our client
 * (Google) ends it for every connection of that account, in every org, since the OAuth client is the deployment's.
 * The index answers "which live connections hold this account at this vendor" in one probe, for begin-disconnect's
 * reply and for `connection.accounts.grant-holders`.
 */
export class Migration20261123175734_account_grant_holders extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create index "integration_connection_account_idx" on "connection"."integration_connection" ("vendor", "external_account_id") where "external_account_id" is not null and "status" in ('pending', 'connected', 'disconnecting');`,
    );
    this.addSql(BEGIN_DISCONNECT_V5.replace('create function', 'create or replace function'));
  }

  override async down(): Promise<void> {
    this.addSql(BEGIN_DISCONNECT_V4.replace('create function', 'create or replace function'));
    this.addSql(`drop index "connection"."integration_connection_account_idx";`);
  }
}
