import { Migration } from '@mikro-orm/migrations';
import { reviseSql } from '@otesse/persistence';
import { COMPLETE_DISCONNECT_V2 } from './Migration20261122080500_complete_fast_path';

/** complete_disconnect as this migration leaves it: version 2 with the witness found without stray locks. */
export const COMPLETE_DISCONNECT_V3 = reviseSql(
  COMPLETE_DISCONNECT_V2,
  [
    `  v_inst jsonb;
begin`,
    `  v_inst jsonb;
  v_candidate uuid;
  v_witness boolean := false;
begin`,
  ],
  [
    `    perform 1 from "connection".integration_connection
     where instance_id = c.instance_id and id <> c.id and status = 'connected' limit 1 for share;
    if found then`,
    `    -- One candidate at a time, each locked in a subtransaction: a candidate that stopped being connected while
    -- this waited for it (a begin in flight) is no witness, and its lock is rolled back with the subtransaction. A
    -- lock left on it would be held into the locked path below, while that connection's own step 5 holds the
    -- instance and waits for its row: a deadlock.
    for v_candidate in select id from "connection".integration_connection
                        where instance_id = c.instance_id and id <> c.id and status = 'connected' loop
      begin
        perform 1 from "connection".integration_connection
         where id = v_candidate and status = 'connected' for share;
        if not found then raise exception using errcode = 'OT002'; end if;
        v_witness := true;
      exception when sqlstate 'OT002' then
        null;
      end;
      exit when v_witness;
    end loop;
    if v_witness then`,
  ],
);

/**
 * complete_disconnect's fast path looks for its witness without leaving locks behind. `for share` on "the
 * connected rows" waits for a begin in flight, then locks the row even when it no longer matches (Postgres locks
 * before it re-checks), and that stray lock was held into the locked path: with that connection's own step 5
 * holding the instance and waiting for its row, the two deadlocked (found by the full suite; reproduced in
 * `disconnect.int.test.ts`). Each candidate is now locked in a subtransaction that is rolled back when it is no
 * witness.
 */
export class Migration20261122103000_witness_without_stray_locks extends Migration {
  override async up(): Promise<void> {
    this.addSql(COMPLETE_DISCONNECT_V3);
  }

  override async down(): Promise<void> {
    this.addSql(COMPLETE_DISCONNECT_V2);
  }
}
