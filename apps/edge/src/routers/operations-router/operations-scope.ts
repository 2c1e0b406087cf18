import type { TIdentity } from '@otesse/identity';

/**
 * Which operations a caller sees: the org's with settings.view or settings.edit (as the audit log), otherwise those
 * they started or that acted on their own connections.
 */
export function operationsScope(identity: TIdentity): {
  orgId: string;
  participantUserId: string | undefined;
} {
  const seesOrg =
    identity.permissions.includes('settings.view') ||
    identity.permissions.includes('settings.edit');
  return { orgId: identity.orgId, participantUserId: seesOrg ? undefined : identity.userId };
}
