import { EntitySchema } from '@mikro-orm/core';
import { ZInstanceStatus, type TInstanceConfig, type TInstanceStatus } from '@otesse/contracts';

const INSTANCE_STATUSES = ZInstanceStatus.options;

/** The org's installation of one vendor: one per (org, vendor), kept forever (a disconnect revokes, never deletes). */
export interface IntegrationInstance {
  id: string;
  orgId: string;
  vendor: string;
  status: TInstanceStatus;
  /**
   * The status a connect attempt moved the instance away from (revoked/error → pending): an abandoned connect
   * restores it, and activation reports `instanceReused` when it was `revoked`. Null once connected.
   */
  previousStatus: TInstanceStatus | null;
  /** Validated non-secret settings (ServiceNow subdomain…). */
  config: TInstanceConfig;
  /**
   * The disconnect saga of the instance's last live connection, from its lock to its statuses (or compensation):
   * no connect of any slot starts meanwhile, so that saga knows at its lock that it will revoke the instance.
   */
  revokingSagaId: string | null;
  /**
   * The provider organization (QuickBooks realm, HubSpot portal, Atlassian site, ServiceNow host…) the instance's
   * synced data comes from: set by its first connection that names one, kept after a disconnect (the data is kept
   * too). A connect from another tenant is refused: record ids are per-tenant sequences, so its records would
   * overwrite the org's.
   */
  tenantId: string | null;
  /**
   * The unlink saga that holds the instance, from its hold to its unpin (or its compensation): no connect starts and
   * the config does not change meanwhile, so the tenant it unlinks stays the instance's.
   */
  unlinkSagaId: string | null;
  /**
   * When an admin last unlinked the instance from its tenant (its synced data erased, the pin cleared): connections
   * created before it no longer name the instance's site. Null: never.
   */
  tenantUnlinkedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export const IntegrationInstanceSchema = new EntitySchema<IntegrationInstance>({
  name: 'IntegrationInstance',
  tableName: 'integration_instance',
  uniques: [{ name: 'integration_instance_org_vendor_unique', properties: ['orgId', 'vendor'] }],
  properties: {
    id: { type: 'uuid', primary: true },
    orgId: { type: 'uuid' },
    vendor: { type: 'string', length: 40 },
    status: { enum: true, items: () => INSTANCE_STATUSES },
    previousStatus: { enum: true, items: () => INSTANCE_STATUSES, nullable: true },
    config: { type: 'json' },
    revokingSagaId: { type: 'uuid', nullable: true },
    tenantId: { type: 'string', length: 300, nullable: true },
    unlinkSagaId: { type: 'uuid', nullable: true },
    tenantUnlinkedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
