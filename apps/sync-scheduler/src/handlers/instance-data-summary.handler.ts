import type { MikroORM } from '@mikro-orm/postgresql';
import type { TSyncResource } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { SYNC_SCHEMA_NAME as S } from '../sync-job.rows';

/**
 * What an instance holds of its tenant's data (the unlink dialog's figures): records per resource from
 * `record_tally`, references per resource summed over its connections from `reference_tally` — a few rows, never
 * the records or references themselves. Only resources with a figure are listed, by resource; an instance with
 * nothing (or another org's) answers zeros. Rows the tally triggers leave at zero (after an erase) are left out.
 */
export function instanceDataSummaryHandler(
  orm: MikroORM,
): THandler<'sync-scheduler.instances.data-summary'> {
  return async (req) => {
    const rows = (
      await orm.em
        .getConnection()
        .getKnex()
        .raw(
          `select resource, sum(records)::bigint as records, sum(refs)::bigint as refs
             from (select resource, records_count as records, 0 as refs from ${S}.record_tally
                    where org_id = ? and instance_id = ?
                   union all
                   select resource, 0, references_count from ${S}.reference_tally
                    where org_id = ? and instance_id = ?) t
            group by resource
           having sum(records) > 0 or sum(refs) > 0
            order by resource`,
          [req.orgId, req.instanceId, req.orgId, req.instanceId],
        )
    ).rows as { resource: TSyncResource; records: string; refs: string }[];
    const byResource = rows.map((r) => ({
      resource: r.resource,
      records: Number(r.records),
      references: Number(r.refs),
    }));
    return {
      records: byResource.reduce((n, r) => n + r.records, 0),
      references: byResource.reduce((n, r) => n + r.references, 0),
      byResource,
    };
  };
}
