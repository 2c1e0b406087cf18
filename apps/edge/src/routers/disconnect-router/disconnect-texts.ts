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

/** Another live connection of the instance, as the dialog names it. */
export type TKeepingConnection =
  | { kind: 'organization' }
  | { kind: 'yours' }
  /** Another member's personal connection; `name` null when the caller may not see who made it. */
  | { kind: 'member'; name: string | null };

function keepingPhrase(k: readonly TKeepingConnection[]): string {
  const parts: string[] = [];
  if (k.some((c) => c.kind === 'organization')) parts.push("the organization's connection");
  if (k.some((c) => c.kind === 'yours')) parts.push('your personal connection');
  const names = k.flatMap((c) => (c.kind === 'member' && c.name ? [c.name] : []));
  // At most three names; the rest, and those the caller may not see, counted.
  for (const n of names.slice(0, 3)) parts.push(`${n}'s personal connection`);
  const counted = k.filter((c) => c.kind === 'member').length - Math.min(names.length, 3);
  if (counted === 1) parts.push("another member's personal connection");
  if (counted > 1)
    parts.push(`${counted} ${parts.length > 0 ? 'other ' : ''}members' personal connections`);
  return parts.length <= 1
    ? (parts[0] ?? '')
    : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}

/** Whether the disconnect revokes the instance, and if not, whose connections keep it connected. */
export function instanceNote(provider: string, keeping: readonly TKeepingConnection[]): string {
  if (keeping.length === 0) return `${provider} will be disconnected for your organization.`;
  const phrase = keepingPhrase(keeping);
  const verb = keeping.length === 1 ? 'keeps' : 'keep';
  return `${phrase.charAt(0).toUpperCase()}${phrase.slice(1)} ${verb} ${provider} connected for your organization; only this connection is revoked.`;
}
