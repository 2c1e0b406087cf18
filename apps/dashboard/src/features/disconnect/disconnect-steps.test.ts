import { describe, expect, it } from 'vitest';
import {
  disconnectDialogTitle,
  shownSteps,
  stepIcon,
  stepLabel,
  stepStatusText,
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
