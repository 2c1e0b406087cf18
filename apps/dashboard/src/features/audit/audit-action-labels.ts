import type { TAuditAction } from '../../trpc/router-types';

/** Keyed by the router's action enum: a new backend action fails the type-check until it has a label. */
export const AUDIT_ACTION_LABELS: Record<TAuditAction, string> = {
  'connection.connected': 'Connected',
  'connection.connect_failed': 'Connect failed',
  'connection.disconnected': 'Disconnected',
  'connection.disconnect_failed': 'Disconnect failed',
  'connection.reconnected': 'Reconnected',
  'connection.reconnect_failed': 'Reconnect failed',
  'connection.user_changed': 'User changed',
  'connection.change_user_failed': 'Change user failed',
  'connection.refresh_token_expired': 'Refresh token expired',
  'instance.configured': 'Instance configured',
  'instance.tenant_unlinked': 'Unlinked from its provider organization (synced data erased)',
  'instance.unlink_failed': 'Unlink failed',
  'operation.stopped': 'Operation stopped (needs a resume)',
  'operation.resumed': 'Operation resumed',
  'sync_job.enabled': 'Sync job enabled',
  'sync_job.disabled': 'Sync job disabled',
  'sync_job.run_requested': 'Sync run requested',
  'vault.keys_rotated': 'Vault keys rotated',
  'webhook_secret.previous_expired': 'Previous webhook secret no longer accepted',
  'webhook_secret.removed': 'Webhook signing secret removed',
  'webhook_secret.set': 'Webhook signing secret set',
};

export const AUDIT_ACTIONS = Object.keys(AUDIT_ACTION_LABELS) as TAuditAction[];
