import type { TSagaStep, TSagaView } from '../../trpc/router-types';

/** The seed's steps in words; an unknown (newer) step still shows, by its name. */
const STEP_LABELS: Record<string, string> = {
  lock: 'Confirm and lock the connection',
  'disable-sync-jobs': 'Disable sync jobs',
  'revoke-tokens': 'Revoke OAuth tokens',
  'destroy-credentials': 'Destroy stored credentials',
  'update-statuses': 'Update statuses',
  'mark-references-stale': 'Mark external references stale',
  'mark-instance-references-stale':
    "Mark the instance's references stale (it turned out to be the last connection)",
  audit: 'Write the audit log entry',
  'publish-event': 'Notify dependent features',
};

export function stepLabel(name: string): string {
  return STEP_LABELS[name] ?? name.replace(/[-_]+/g, ' ').replace(/^\w/, (c) => c.toUpperCase());
}

export const STEP_STATUS_TEXT: Record<TSagaStep['status'], string> = {
  pending: 'Waiting',
  running: 'In progress',
  succeeded: 'Done',
  failed: 'Failed',
  compensating: 'Undoing',
  compensated: 'Undone',
  // A conditional step whose condition said no: nothing was left for it to do.
  skipped: 'Not needed',
};

export const STEP_ICON: Record<TSagaStep['status'], string> = {
  pending: '',
  running: '…',
  succeeded: '✓',
  failed: '✕',
  compensating: '↺',
  compensated: '↺',
  skipped: '–',
};

const TERMINAL = new Set<TSagaView['status']>(['completed', 'compensated', 'failed']);

export function isTerminal(saga: TSagaView | null | undefined): boolean {
  return !!saga && TERMINAL.has(saga.status);
}

/** What the finished saga reports (its `result` is free-form JSON: read it defensively). */
export interface TDisconnectSummary {
  warnings: string[];
  revocationSupported: boolean | null;
  revocationSucceeded: boolean | null;
  syncJobsDisabled: number | null;
  executionsCancelled: number | null;
  credentialsDeleted: number | null;
  instanceRevoked: boolean | null;
  referencesMarkedStale: number | null;
}

export function readSummary(result: Record<string, unknown> | null): TDisconnectSummary {
  const r = result ?? {};
  const num = (k: string): number | null => (typeof r[k] === 'number' ? r[k] : null);
  const bool = (k: string): boolean | null => (typeof r[k] === 'boolean' ? r[k] : null);
  const warnings = Array.isArray(r['warnings'])
    ? r['warnings'].filter((w): w is string => typeof w === 'string')
    : [];
  return {
    warnings,
    revocationSupported: bool('revocationSupported'),
    revocationSucceeded: bool('revocationSucceeded'),
    syncJobsDisabled: num('syncJobsDisabled'),
    executionsCancelled: num('executionsCancelled'),
    credentialsDeleted: num('credentialsDeleted'),
    instanceRevoked: bool('instanceRevoked'),
    referencesMarkedStale: num('referencesMarkedStale'),
  };
}
