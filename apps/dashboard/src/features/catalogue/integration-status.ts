import type { TConnectionView, TIntegration } from '../../trpc/router-types';
import type { TTone } from '../../ui/status-badge';

export interface TIntegrationStatus {
  tone: TTone;
  label: string;
}

export type TOperation = NonNullable<TConnectionView['operation']>;

/**
 * Every way the dashboard names an operation (saga type): as a title (the Operations page), in a sentence, and on
 * the integration's badge while it runs or after it stopped.
 */
const OPERATION_WORDS: Record<
  string,
  { title: string; name: string; running: string; stopped: string }
> = {
  disconnect: {
    title: 'Disconnect',
    name: 'disconnect',
    running: 'Disconnecting…',
    stopped: 'Disconnect stopped',
  },
  reconnect: {
    title: 'Reconnect',
    name: 'reconnect',
    running: 'Reconnecting…',
    stopped: 'Reconnect stopped',
  },
  'change-user': {
    title: 'Change of user',
    name: 'change of user',
    running: 'Changing user…',
    stopped: 'Change of user stopped',
  },
  'unlink-tenant': {
    title: 'Unlink',
    name: 'unlink',
    running: 'Unlinking…',
    stopped: 'Unlink stopped',
  },
};

/** The operation's title ("Change of user"); an unknown (newer) type as it is. */
export function operationTitle(type: string): string {
  return OPERATION_WORDS[type]?.title ?? type;
}

/**
 * The operations open on the connections that make the integration's state for the signed-in user: the
 * organization's and their own, live or no longer live (a disconnect revoked it and has not finished). Another
 * member's (an admin's list has them) are shown on that connection only.
 */
export function ownOperations(
  i: TIntegration,
  userId: string | undefined,
): { connection: TConnectionView; operation: TOperation }[] {
  const candidates: TConnectionView[] = [
    ...liveConnections(i),
    ...(i.unfinishedConnections ?? []).filter((c) => c.level === 'app' || c.userId === userId),
  ];
  return candidates.flatMap((c) =>
    c.operation ? [{ connection: c, operation: c.operation }] : [],
  );
}

/** The operation's name in a sentence ("disconnect", "change of user"); an unknown (newer) type by its own name. */
export function operationName(type: string): string {
  return OPERATION_WORDS[type]?.name ?? type.replace(/[-_]+/g, ' ');
}

/** What a catalogue card says of an operation open on the org's (`app`) or the caller's own (`user`) connection. */
export function operationNoteText(
  op: Pick<TOperation, 'type' | 'needsResume'>,
  level: TConnectionView['level'],
): string {
  const whose = level === 'app' ? 'the organization’s connection' : 'your connection';
  const name = operationName(op.type);
  if (!op.needsResume) return `A ${name} of ${whose} is in progress.`;
  const until =
    op.type === 'disconnect'
      ? 'until then it cannot be connected again'
      : 'until then it cannot be reconnected, changed or disconnected';
  return `The ${name} of ${whose} stopped before it finished. Resume it once the cause is fixed; ${until}.`;
}

/** Whether an operation (running or stopped) holds the connection: no Reconnect, Change user or Disconnect then. */
export function isHeld(c: Pick<TConnectionView, 'operation' | 'status'>): boolean {
  return c.operation !== null || c.status === 'disconnecting';
}

/**
 * The integration's badge. An operation in progress (or stopped) comes first: during a disconnect the instance
 * still says `connected` until its statuses are updated, and "Connected" would be wrong.
 */
export function integrationStatus(
  i: TIntegration | undefined,
  userId?: string,
): TIntegrationStatus {
  if (!i) return { tone: 'neutral', label: 'Not connected' };
  const ops = ownOperations(i, userId);
  const stopped = ops.find((o) => o.operation.needsResume);
  if (stopped)
    return {
      tone: 'danger',
      label: OPERATION_WORDS[stopped.operation.type]?.stopped ?? 'Operation stopped',
    };
  const running = ops[0];
  if (running)
    return {
      tone: 'info',
      label: OPERATION_WORDS[running.operation.type]?.running ?? 'Operation in progress…',
    };
  if (i.appConnection?.status === 'disconnecting' || i.myConnection?.status === 'disconnecting')
    return { tone: 'info', label: 'Disconnecting…' };
  if (i.refreshTokenExpired) return { tone: 'warning', label: 'Reconnect needed' };
  if (i.integrated || i.myConnection?.status === 'connected')
    return { tone: 'success', label: 'Connected' };
  // A connect shown unfinished (cancellable on the Connections page) is Pending. The instance alone says
  // `pending` from its first connect (or subdomain) on until a connection is live, also after that connect failed.
  if (unfinishedConnects(i).length > 0) return { tone: 'info', label: 'Pending' };
  switch (i.instance?.status) {
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

/** The connections the card shows whose connect has not finished (`pending`: cancellable on the Connections page). */
export function unfinishedConnects(i: TIntegration): TConnectionView[] {
  return liveConnections(i).filter((c) => c.status === 'pending');
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

/**
 * The card's line about the instance: which one the connections are on (ServiceNow's, Zendesk's subdomain; an
 * Atlassian site) while connected; otherwise the provider organization it is pinned to (a QuickBooks company, a
 * HubSpot portal; disconnected, the Atlassian site or ServiceNow host too): only an account of it may connect.
 */
export function instanceLine(
  instance: Pick<NonNullable<TIntegration['instance']>, 'subdomain' | 'site' | 'tenant'> | null,
  subdomainLabel: string | null | undefined,
  connectedCount: number,
): { label: string; value: string } | null {
  if (!instance) return null;
  const connected = connectedCount > 0;
  if (connected && instance.subdomain)
    return { label: subdomainLabel ?? 'Instance', value: instance.subdomain };
  if (connected && instance.site)
    return { label: 'Site', value: instance.site.name ?? instance.site.id };
  if (!instance.tenant) return null;
  if (!instance.subdomain && !instance.site) return { label: 'Linked to', value: instance.tenant };
  // Disconnected: the pin still decides who may connect, so it is named (a site by its name).
  const site = instance.site?.id === instance.tenant ? instance.site : null;
  return { label: 'Linked to', value: site?.name ?? instance.tenant };
}

/**
 * Whether the card offers an admin to unlink the instance from its tenant: pinned, and nobody connected (nor an
 * operation open on a connection). The edge decides (its preview's `blockedBy`); this only keeps the button away
 * where it could not work.
 */
export function canOfferUnlink(i: TIntegration, me: { userId: string; canEdit: boolean }): boolean {
  if (!me.canEdit || !i.instance?.tenant) return false;
  if (i.integrated || i.instance.status === 'connected' || i.instance.status === 'pending')
    return false;
  return (
    !i.appConnection &&
    !i.myConnection &&
    i.otherConnectionsTotal === 0 &&
    i.userConnections === 0 &&
    (i.unfinishedConnections ?? []).length === 0
  );
}
