import type { TSagaView, TUnlinkPreview } from '../../trpc/router-types';
import { failureCauseText, stepLabel } from '../disconnect/disconnect-steps';
import { resourceLabel } from '../connections/sync-job-text';

/** What a vendor calls the provider organization an instance is pinned to; another vendor's is an "organization". */
const TENANT_NOUNS: Record<string, string> = {
  quickbooks: 'company',
  xero: 'organisation',
  hubspot: 'portal',
  confluence: 'site',
  jira: 'site',
  servicenow: 'instance',
  zendesk: 'account',
  slack: 'workspace',
  salesforce: 'org',
  google: 'domain',
};

export function tenantNoun(vendor: string): string {
  return TENANT_NOUNS[vendor] ?? 'organization';
}

/** "1 synced record", "40 synced records". */
export function count(n: number, singular: string, plural = `${singular}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? singular : plural}`;
}

/** Whether what the admin typed is the tenant id (GitHub-style "type X to confirm"); surrounding spaces ignored. */
export function confirmMatches(typed: string, tenantId: string | null): boolean {
  return tenantId !== null && tenantId !== '' && typed.trim() === tenantId;
}

/** The tenant as a person knows it: an Atlassian site by its name (with its id), anything else by its id. */
export function tenantLabel(p: Pick<TUnlinkPreview, 'tenantId' | 'siteName'>): string {
  if (!p.tenantId) return '';
  return p.siteName && p.siteName !== p.tenantId ? `${p.siteName} (${p.tenantId})` : p.tenantId;
}

/** Why Unlink cannot run now (the preview's `blockedBy`), or null when it can. */
export function unlinkBlockedText(
  p: Pick<TUnlinkPreview, 'blockedBy' | 'liveConnections'>,
  providerName: string,
): string | null {
  switch (p.blockedBy) {
    case null:
      return null;
    case 'not_pinned':
      return `${providerName} is not linked to any provider organization: there is nothing to unlink.`;
    case 'unlink_in_progress':
      return `An unlink of ${providerName} is already under way: wait for it to finish.`;
    case 'connections_live':
      return `Disconnect every connection first (${p.liveConnections} live): only an integration nobody is connected to can be unlinked.`;
  }
}

/** What is erased, in one sentence. */
export function erasesText(
  erases: Pick<TUnlinkPreview['erases'], 'records' | 'references'>,
  tenant: string,
): string {
  if (erases.records === 0 && erases.references === 0)
    return `Otesse holds no synced records or external references from ${tenant}: nothing is erased.`;
  return `Unlinking permanently erases the ${count(erases.records, 'synced record')} and ${count(erases.references, 'external reference')} Otesse holds from ${tenant}.`;
}

/** One resource's share of the erase: "Contacts: 50 records, 50 references". */
export function erasedResourceText(r: TUnlinkPreview['erases']['byResource'][number]): string {
  return `${resourceLabel(r.resource)}: ${count(r.records, 'record')}, ${count(r.references, 'reference')}`;
}

const KEEP_LABELS: Record<string, string> = {
  connection_history: 'Connection history',
  sync_job_configurations: 'Sync job settings',
  field_mappings: 'Field mappings',
  audit_log: 'Audit log',
};

/** What an unlink keeps, in words; an unknown (newer) item by its own name. */
export function keptLabel(key: string): string {
  return KEEP_LABELS[key] ?? resourceLabel(key.replace(/[-_]+/g, ' '));
}

/** What a successful unlink changes for the next connect. */
export function afterUnlinkText(providerName: string, vendor: string): string {
  const noun = tenantNoun(vendor);
  return `Afterwards an account of any ${noun} may connect ${providerName}; the first connection links it to its ${noun}.`;
}

/** The unlink saga's steps in words (the labels every operation's steps share); an unknown one by its name. */
export function unlinkStepLabel(name: string): string {
  return stepLabel(name);
}

/** The dialog's title follows the unlink: the question, then what is happening, then how it ended. */
export function unlinkDialogTitle(
  name: string,
  tenant: string | null,
  saga: Pick<TSagaView, 'status'> | null,
  started: boolean,
): string {
  if (!started) return tenant ? `Unlink ${name} from ${tenant}?` : `Unlink ${name}?`;
  switch (saga?.status) {
    case 'completed':
      return `${name} unlinked`;
    case 'failed':
      return `Unlink of ${name} stopped part-way`;
    case 'compensated':
      return `${name} was not unlinked`;
    case 'compensating':
      return `Undoing the unlink of ${name}…`;
    default:
      return `Unlinking ${name}…`;
  }
}

/**
 * A refused unlink in words, from the edge's typed reason (`data.reason`, or a compensated saga's hold refusal), or
 * null when there is none to word (the caller keeps the server's message). Every refusal comes before anything is
 * erased: the caller says so.
 */
export function unlinkRefusalText(
  code: string | undefined | null,
  reason: string | undefined | null,
): string | null {
  switch (reason) {
    case 'instance_in_use':
      return 'Someone is connected to it: disconnect every connection first, then unlink.';
    case 'tenant_changed':
      return 'It is no longer linked to what you typed (it changed meanwhile): close this and open Unlink again.';
    case 'not_pinned':
      return 'It is not linked to any provider organization any more: there is nothing to unlink.';
    case 'disconnect_in_progress':
      return 'A disconnect of it is still running: wait for it to finish, then try again.';
    case 'unlink_in_progress':
      return 'Another unlink of it is already running: wait for it to finish.';
    case 'sync_running':
      return 'A sync of it was still running: try again in a moment.';
    case 'unlink_compensated':
      return 'A step failed before anything was erased, and what was done was undone: try again in a moment.';
  }
  switch (code) {
    case 'FORBIDDEN':
      return 'Only admins may unlink an integration.';
    case 'NOT_FOUND':
      return 'Your organization has no such integration any more.';
    default:
      return null;
  }
}

/** A saga step's failure as a sentence, the refusal's own words first; never the service's message. */
export function unlinkSagaErrorText(
  e: { step: string; code: string; reason: string | null } | null,
): string {
  if (!e) return '';
  return (
    unlinkRefusalText(e.code, e.reason) ??
    `“${unlinkStepLabel(e.step)}” failed: ${failureCauseText(e)}.`
  );
}

/** What a finished unlink did, from its steps' results (free-form JSON: read defensively). */
export function readUnlinkSummary(result: Record<string, unknown> | null): {
  recordsErased: number | null;
  referencesErased: number | null;
  previousTenantId: string | null;
  dataErased: boolean;
} {
  const step = (name: string): Record<string, unknown> | null => {
    const r = result?.[name];
    return r !== null && typeof r === 'object' ? (r as Record<string, unknown>) : null;
  };
  const erase = step('erase-data');
  const unpin = step('unpin-tenant');
  const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);
  return {
    recordsErased: num(erase?.['recordsErased']),
    referencesErased: num(erase?.['referencesErased']),
    previousTenantId:
      typeof unpin?.['previousTenantId'] === 'string' ? unpin['previousTenantId'] : null,
    dataErased: erase !== null,
  };
}

/** What the dialog announces to screen readers once the unlink has ended. */
export function unlinkEndedAnnouncement(
  name: string,
  saga: Pick<TSagaView, 'status'> | null,
): string {
  switch (saga?.status) {
    case 'completed':
      return `${name} is unlinked.`;
    case 'failed':
      return `The unlink of ${name} stopped part-way and needs to be resumed.`;
    case 'compensated':
      return `${name} was not unlinked: nothing was erased.`;
    default:
      return `The unlink of ${name} ended.`;
  }
}
