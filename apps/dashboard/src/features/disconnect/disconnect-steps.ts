import type { TSagaStep, TSagaView } from '../../trpc/router-types';

/** The seed's steps in words; an unknown (newer) step still shows, by its name. */
const STEP_LABELS: Record<string, string> = {
  lock: 'Confirm and lock the connection',
  'disable-sync-jobs': 'Disable sync jobs',
  'revoke-tokens': 'Revoke OAuth tokens',
  'destroy-credentials': 'Destroy stored credentials',
  'update-statuses': 'Update statuses',
  'mark-references-stale': 'Mark external references stale',
  // Conditional: runs only when another connection's disconnect at the same moment left this one the last.
  'mark-instance-references-stale':
    "Mark the instance's references stale (this turned out to be its last connection)",
  audit: 'Write the audit log entry',
  'publish-event': 'Notify dependent features',
  // The unlink saga's own (features/unlink; the Operations page lists it too). Audit and notify are as above.
  hold: 'Hold the integration (no connect meanwhile)',
  'erase-data': 'Erase synced records and external references',
  'unpin-tenant': 'Remove the link to the provider organization',
};

export function stepLabel(name: string, note?: TSagaStep['note']): string {
  // Whose references the step marks: the instance's when this is its last connection, else this connection's.
  if (name === 'mark-references-stale' && note === 'scope_instance')
    return "Mark the instance's external references stale";
  if (name === 'mark-references-stale' && note === 'scope_connection')
    return "Mark this connection's external references stale";
  return STEP_LABELS[name] ?? name.replace(/[-_]+/g, ' ').replace(/^\w/, (c) => c.toUpperCase());
}

/** What a done step's note says instead of a plain "Done" (the edge's codes, `saga-view.ts`). */
const NOTE_TEXT: Partial<Record<NonNullable<TSagaStep['note']>, string>> = {
  not_applicable: 'Not applicable: an API key has no OAuth tokens',
  not_supported: 'Skipped: not supported by this provider',
  grant_in_use: 'Skipped: another connection uses the same grant',
  failed: 'Done, but the provider did not confirm (see warnings)',
};

/** Nothing happened at the provider: shown as skipped, not as done. */
const SKIPPED_NOTES = new Set<TSagaStep['note']>([
  'not_applicable',
  'not_supported',
  'grant_in_use',
]);

export function stepStatusText(s: Pick<TSagaStep, 'status' | 'note'>): string {
  return (s.status === 'succeeded' && s.note && NOTE_TEXT[s.note]) || STEP_STATUS_TEXT[s.status];
}

export function stepIcon(s: Pick<TSagaStep, 'status' | 'note'>): string {
  if (s.status === 'succeeded' && SKIPPED_NOTES.has(s.note)) return STEP_ICON.skipped;
  if (s.status === 'succeeded' && s.note === 'failed') return '!';
  return STEP_ICON[s.status];
}

/** The timeline a person reads: a conditional step whose condition said no did nothing, so it is left out. */
export function shownSteps<T extends Pick<TSagaStep, 'status'>>(steps: readonly T[]): T[] {
  return steps.filter((s) => s.status !== 'skipped');
}

/** The dialog's title follows the disconnect: the question, then what is happening, then how it ended. */
export function disconnectDialogTitle(
  name: string,
  saga: Pick<TSagaView, 'status'> | null,
  started: boolean,
): string {
  if (!started) return `Disconnect ${name}?`;
  switch (saga?.status) {
    case 'completed':
      return `${name} disconnected`;
    case 'failed':
      return `Disconnect of ${name} stopped part-way`;
    case 'compensated':
      return `${name} was not disconnected`;
    case 'compensating':
      return `Undoing the disconnect of ${name}…`;
    default:
      return `Disconnecting ${name}…`;
  }
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

/** Why a step failed, in words: never the service's own message (it names NATS subjects, saga ids, SQL). */
export function failureCauseText(e: { code: string; reason: string | null }): string {
  switch (e.reason) {
    case 'no_responders':
      return "one of Otesse's services was not running";
    case 'timeout':
    case 'step_timeout':
      return "one of Otesse's services took too long to answer";
    case 'disconnecting':
    case 'locked':
    case 'saga_conflict':
      return 'another operation on this connection was in progress';
    case 'not_connected':
      return 'the connection was no longer connected';
    case 'database_unavailable':
      return 'Otesse could not reach its database';
  }
  switch (e.code) {
    case 'TIMEOUT':
      return "one of Otesse's services took too long to answer";
    case 'UNAVAILABLE':
      return "one of Otesse's services was unavailable";
    case 'PROVIDER_ERROR':
      return 'the provider answered with an error';
    case 'CONFLICT':
    case 'PRECONDITION_FAILED':
      return 'the connection changed meanwhile';
    case 'FORBIDDEN':
      return 'you may no longer do this';
    default:
      return "an unexpected error on Otesse's side";
  }
}

/** A step's failure as a sentence: which step (in words), and why. */
export function sagaErrorText(
  e: { step: string; code: string; reason: string | null } | null,
  kept = true,
): string {
  if (!e) return '';
  return `“${stepLabel(e.step)}” ${kept ? 'kept failing' : 'failed'}: ${failureCauseText(e)}.`;
}

/** Why the dialog offers no Disconnect for a connection in this state (the preview's `canDisconnect` is false). */
export function cannotDisconnectText(status: string): string {
  switch (status) {
    case 'revoked':
      return 'This connection is already disconnected: there is nothing left to disconnect.';
    case 'disconnecting':
      return 'A disconnect of this connection is already under way. Close this and follow it with “Show progress” on its card.';
    case 'pending':
      return 'This connection is still being set up. Wait for the connect to finish, then try again.';
    default:
      return `This connection is ${status} and cannot be disconnected now.`;
  }
}

/** What the dialog announces to screen readers once the disconnect has ended: how it ended, not just that it did. */
export function disconnectEndedAnnouncement(
  name: string,
  saga: Pick<TSagaView, 'status'> | null,
): string {
  switch (saga?.status) {
    case 'completed':
      return `${name} is disconnected.`;
    case 'failed':
      return `The disconnect of ${name} stopped part-way and needs to be resumed.`;
    case 'compensated':
      return `${name} was not disconnected: nothing was changed.`;
    default:
      return `The disconnect of ${name} ended.`;
  }
}
