/** A user as the edge names them (the org's own users only): their display name and email. */
export interface TPersonRef {
  name: string;
  email: string;
}

/**
 * How the dashboard names a user, the same on every screen: "You" for the signed-in user, otherwise their display
 * name (their email when they have none). The edge names only users of the caller's org that the caller may see;
 * any other id is `fallback` ("another user" unless said), never a fragment of an id. `withEmail` adds the email
 * where there is room for it (who connected a connection, the audit log's actor).
 */
export function personLabel(
  userId: string | null,
  person: TPersonRef | null | undefined,
  me: { userId: string; email: string },
  opts: { withEmail?: boolean; fallback?: string } = {},
): string {
  if (userId === null) return 'System';
  if (userId === me.userId) return opts.withEmail ? `You (${me.email})` : 'You';
  if (!person) return opts.fallback ?? 'another user';
  const name = person.name.trim() || person.email;
  return opts.withEmail && name !== person.email ? `${name} (${person.email})` : name;
}
