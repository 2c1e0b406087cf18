import { describe, expect, it } from 'vitest';
import {
  disconnectDialogTitle,
  shownSteps,
  stepIcon,
  stepLabel,
  stepStatusText,
  cannotDisconnectText,
  disconnectEndedAnnouncement,
  failureCauseText,
  sagaErrorText,
} from './disconnect-steps';

describe('the disconnect dialog tells the truth about each step', () => {
  it('shows a revocation an API-key provider cannot have as not applicable, not as done', () => {
    const step = { status: 'succeeded' as const, note: 'not_applicable' as const };
    expect(stepStatusText(step)).toBe('Not applicable: an API key has no OAuth tokens');
    expect(stepIcon(step)).toBe('–');
    expect(stepStatusText({ status: 'succeeded', note: 'not_supported' })).toBe(
      'Skipped: not supported by this provider',
    );
    expect(stepStatusText({ status: 'succeeded', note: null })).toBe('Done');
    expect(stepIcon({ status: 'succeeded', note: null })).toBe('✓');
  });

  it('names whose references are marked, and leaves out a conditional step that did not run', () => {
    expect(stepLabel('mark-references-stale', 'scope_instance')).toBe(
      "Mark the instance's external references stale",
    );
    expect(stepLabel('mark-references-stale', 'scope_connection')).toBe(
      "Mark this connection's external references stale",
    );
    const steps = [
      { name: 'mark-references-stale', status: 'succeeded' as const },
      { name: 'mark-instance-references-stale', status: 'skipped' as const },
      { name: 'audit', status: 'pending' as const },
    ];
    expect(shownSteps(steps).map((s) => s.name)).toEqual(['mark-references-stale', 'audit']);
  });

  it('titles the dialog by where the disconnect is', () => {
    expect(disconnectDialogTitle('Postmark', null, false)).toBe('Disconnect Postmark?');
    expect(disconnectDialogTitle('Postmark', null, true)).toBe('Disconnecting Postmark…');
    expect(disconnectDialogTitle('Postmark', { status: 'running' }, true)).toBe(
      'Disconnecting Postmark…',
    );
    expect(disconnectDialogTitle('Postmark', { status: 'completed' }, true)).toBe(
      'Postmark disconnected',
    );
    expect(disconnectDialogTitle('Postmark', { status: 'failed' }, true)).toBe(
      'Disconnect of Postmark stopped part-way',
    );
    expect(disconnectDialogTitle('Postmark', { status: 'compensated' }, true)).toBe(
      'Postmark was not disconnected',
    );
  });
});

describe('a failed or undone disconnect, in words', () => {
  it('names the step in words and the cause without NATS subjects, saga ids or codes', () => {
    const text = sagaErrorText({
      step: 'destroy-credentials',
      code: 'UNAVAILABLE',
      reason: 'no_responders',
    });
    expect(text).toBe(
      "“Destroy stored credentials” kept failing: one of Otesse's services was not running.",
    );
    expect(
      sagaErrorText({ step: 'disable-sync-jobs', code: 'TIMEOUT', reason: 'timeout' }, false),
    ).toBe("“Disable sync jobs” failed: one of Otesse's services took too long to answer.");
    expect(failureCauseText({ code: 'INTERNAL', reason: null })).toBe(
      "an unexpected error on Otesse's side",
    );
    expect(failureCauseText({ code: 'PROVIDER_ERROR', reason: 'http_502' })).toBe(
      'the provider answered with an error',
    );
    expect(failureCauseText({ code: 'CONFLICT', reason: 'locked' })).toBe(
      'another operation on this connection was in progress',
    );
    expect(sagaErrorText(null)).toBe('');
  });

  it('says why there is no Disconnect, and how the disconnect ended', () => {
    expect(cannotDisconnectText('revoked')).toMatch(/already disconnected/);
    expect(cannotDisconnectText('disconnecting')).toMatch(/Show progress/);
    expect(disconnectEndedAnnouncement('Jira', { status: 'completed' })).toBe(
      'Jira is disconnected.',
    );
    expect(disconnectEndedAnnouncement('Jira', { status: 'compensated' })).toBe(
      'Jira was not disconnected: nothing was changed.',
    );
    expect(disconnectEndedAnnouncement('Jira', { status: 'failed' })).toMatch(/stopped part-way/);
  });
});
