/** The seed's confirmation dialog texts, word for word. */
export const DISCONNECT_BODY =
  'This will revoke access and delete all stored credentials. Any active sync jobs will stop. Previously synced data will be kept but marked as stale.';

/**
 * The seed's question; on another member's personal connection (an admin's disconnect on their behalf), whose it
 * is, when the caller may see who connected it.
 */
export const disconnectTitle = (provider: string, ownerName?: string | null): string =>
  ownerName ? `Disconnect ${ownerName}'s ${provider} connection?` : `Disconnect ${provider}?`;
export const dependentWarning = (dependent: string): string =>
  `Disconnecting may affect ${dependent}.`;
export const jobsWarning = (count: number): string =>
  `${count} active sync job${count === 1 ? '' : 's'} will be disabled.`;

/**
 * The instance's other live connections, as the dialog names them: the organization's, the caller's own, and the
 * other members' counted (an instance may have one per member), with the names of a few the caller may see.
 */
export interface TKeepers {
  organization: boolean;
  yours: boolean;
  members: number;
  /** Names of some of those members (the first three are used), only where the caller may see who made them. */
  memberNames: readonly string[];
}

export const NO_KEEPERS: TKeepers = {
  organization: false,
  yours: false,
  members: 0,
  memberNames: [],
};

/** How many connections keep the instance. */
export const keeperCount = (k: TKeepers): number =>
  (k.organization ? 1 : 0) + (k.yours ? 1 : 0) + k.members;

function keepingPhrase(k: TKeepers): string {
  const parts: string[] = [];
  if (k.organization) parts.push("the organization's connection");
  if (k.yours) parts.push('your personal connection');
  // At most three names; the rest, and those the caller may not see, counted.
  const names = k.memberNames.slice(0, Math.min(3, k.members));
  for (const n of names) parts.push(`${n}'s personal connection`);
  const counted = k.members - names.length;
  if (counted === 1) parts.push("another member's personal connection");
  if (counted > 1)
    parts.push(`${counted} ${parts.length > 0 ? 'other ' : ''}members' personal connections`);
  return parts.length <= 1
    ? (parts[0] ?? '')
    : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}

/** Whether the disconnect revokes the instance, and if not, whose connections keep it connected. */
export function instanceNote(provider: string, keeping: TKeepers): string {
  const count = keeperCount(keeping);
  if (count === 0) return `${provider} will be disconnected for your organization.`;
  const phrase = keepingPhrase(keeping);
  const verb = count === 1 ? 'keeps' : 'keep';
  return `${phrase.charAt(0).toUpperCase()}${phrase.slice(1)} ${verb} ${provider} connected for your organization; only this connection is revoked.`;
}
