import type { TConnectionView, TIntegration } from '../../trpc/router-types';
import type { TTone } from '../../ui/status-badge';

export interface TIntegrationStatus {
  tone: TTone;
  label: string;
}

export function integrationStatus(i: TIntegration | undefined): TIntegrationStatus {
  if (!i) return { tone: 'neutral', label: 'Not connected' };
  if (i.refreshTokenExpired) return { tone: 'warning', label: 'Reconnect needed' };
  if (i.integrated || i.myConnection?.status === 'connected')
    return { tone: 'success', label: 'Connected' };
  if (i.appConnection?.status === 'disconnecting' || i.myConnection?.status === 'disconnecting')
    return { tone: 'info', label: 'Disconnecting' };
  switch (i.instance?.status) {
    case 'pending':
      return { tone: 'info', label: 'Pending' };
    case 'revoked':
      return { tone: 'neutral', label: 'Disconnected' };
    case 'error':
      return { tone: 'danger', label: 'Error' };
    default:
      return { tone: 'neutral', label: 'Not connected' };
  }
}

export function connectionStatusTone(status: TConnectionView['status']): TTone {
  switch (status) {
    case 'connected':
      return 'success';
    case 'pending':
    case 'disconnecting':
      return 'info';
    case 'error':
      return 'danger';
    default:
      return 'neutral';
  }
}

export function healthTone(health: NonNullable<TIntegration['instance']>['health']): TTone {
  switch (health) {
    case 'healthy':
      return 'success';
    case 'degraded':
      return 'warning';
    case 'unhealthy':
      return 'danger';
    default:
      return 'neutral';
  }
}

/** The connections of an integration the signed-in user may act on (app-level first, then their own). */
export function liveConnections(i: TIntegration): TConnectionView[] {
  const out: TConnectionView[] = [];
  if (i.appConnection) out.push(i.appConnection);
  if (i.myConnection && i.myConnection.id !== i.appConnection?.id) out.push(i.myConnection);
  return out;
}

/** Mirrors the edge's rule: the org's connection needs settings.edit; a personal one its owner (or an admin). */
export function canManage(c: TConnectionView, me: { userId: string; canEdit: boolean }): boolean {
  return c.level === 'app' ? me.canEdit : c.userId === me.userId || me.canEdit;
}

export function accountLabel(c: TConnectionView): string {
  if (c.accountLabel ?? c.externalAccountId) return c.accountLabel ?? c.externalAccountId ?? '';
  const [first, ...rest] = c.senderEmails;
  if (!first) return 'API key';
  return rest.length ? `${first} +${rest.length} more` : first;
}
