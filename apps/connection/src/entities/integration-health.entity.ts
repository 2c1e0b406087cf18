import { EntitySchema } from '@mikro-orm/core';
import { ZHealthStatus, type THealthStatus } from '@otesse/contracts';

/** One per instance: written by health checks, apart from the instance row so checks never contend with its lock. */
export interface IntegrationHealth {
  id: string;
  instanceId: string;
  status: THealthStatus;
  checkedAt: Date | null;
  checksEnabled: boolean;
  /**
   * When the next periodic check is due. Claiming a check moves it one interval ahead (the claim is the lease:
   * replicas never check the same instance in the same interval). Null = due now.
   */
  nextCheckAt: Date | null;
  /** Why the last check gave its status (`ok`, `http_401`, `timeout`, `refresh_token_expired`…); no secrets. */
  detail: string | null;
  updatedAt: Date;
}

export const IntegrationHealthSchema = new EntitySchema<IntegrationHealth>({
  name: 'IntegrationHealth',
  tableName: 'integration_health',
  uniques: [{ name: 'integration_health_instance_unique', properties: ['instanceId'] }],
  indexes: [
    // The health loop's claim: due rows among the enabled ones.
    {
      name: 'integration_health_due_idx',
      expression: `create index "integration_health_due_idx" on "connection"."integration_health" ("next_check_at") where "checks_enabled"`,
    },
  ],
  properties: {
    id: { type: 'uuid', primary: true },
    instanceId: {
      kind: 'm:1',
      entity: 'IntegrationInstance',
      mapToPk: true,
      joinColumn: 'instance_id',
    } as never,
    status: { enum: true, items: () => ZHealthStatus.options },
    checkedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    checksEnabled: { type: 'boolean', default: false },
    nextCheckAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    detail: { type: 'string', length: 100, nullable: true },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
