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

/**
 * What a catalogue card says about one connection: the account it is connected as (an OAuth provider's user or
 * team) or, for an API-key provider, the senders it brought; `whose` says whose connection it is.
 */
export function connectionSummary(c: TConnectionView): {
  label: string;
  value: string;
  whose: string;
} {
  const whose = c.level === 'app' ? 'organization' : 'your own';
  const account = c.accountLabel ?? c.externalAccountId;
  if (account) return { label: 'Connected as', value: account, whose };
  const [first, ...rest] = c.senderEmails;
  if (first)
    return {
      label: 'Senders',
      value: rest.length ? `${first} +${rest.length} more` : first,
      whose,
    };
  return { label: 'Connected with', value: 'an API key', whose };
}
