import { describe, expect, it } from 'vitest';
import {
  afterUnlinkText,
  confirmMatches,
  erasedResourceText,
  erasesText,
  keptLabel,
  readUnlinkSummary,
  tenantLabel,
  tenantNoun,
  unlinkBlockedText,
  unlinkDialogTitle,
  unlinkEndedAnnouncement,
  unlinkRefusalText,
  unlinkSagaErrorText,
  unlinkStepLabel,
} from './unlink-text';

describe('confirming an unlink by typing the tenant', () => {
  it('matches only the exact tenant id (surrounding spaces aside)', () => {
    expect(confirmMatches('acme', 'acme')).toBe(true);
    expect(confirmMatches('  acme ', 'acme')).toBe(true);
    expect(confirmMatches('Acme', 'acme')).toBe(false);
    expect(confirmMatches('acm', 'acme')).toBe(false);
    expect(confirmMatches('', 'acme')).toBe(false);
    expect(confirmMatches('', '')).toBe(false);
    expect(confirmMatches('acme', null)).toBe(false);
  });
});

describe('the unlink dialog says what goes and what stays', () => {
  it('names the tenant as the vendor does, an Atlassian site by its name', () => {
    expect(tenantNoun('quickbooks')).toBe('company');
    expect(tenantNoun('hubspot')).toBe('portal');
    expect(tenantNoun('someday-vendor')).toBe('organization');
    expect(tenantLabel({ tenantId: 'acme', siteName: null })).toBe('acme');
    expect(tenantLabel({ tenantId: 'site-1', siteName: 'Acme' })).toBe('Acme (site-1)');
    expect(tenantLabel({ tenantId: 'acme', siteName: 'acme' })).toBe('acme');
    expect(tenantLabel({ tenantId: null, siteName: null })).toBe('');
    expect(afterUnlinkText('QuickBooks', 'quickbooks')).toBe(
      'Afterwards an account of any company may connect QuickBooks; the first connection links it to its company.',
    );
  });

  it('counts what is erased, per resource, and says when nothing is', () => {
    expect(erasesText({ records: 100, references: 1 }, 'acme')).toBe(
      'Unlinking permanently erases the 100 synced records and 1 external reference Otesse holds from acme.',
    );
    expect(erasesText({ records: 1_234, references: 0 }, 'acme')).toContain('1,234 synced records');
    expect(erasesText({ records: 0, references: 0 }, 'acme')).toBe(
      'Otesse holds no synced records or external references from acme: nothing is erased.',
    );
    expect(erasedResourceText({ resource: 'invoices', records: 50, references: 1 })).toBe(
      'Invoices: 50 records, 1 reference',
    );
  });

  it('lists what is kept in words', () => {
    expect(
      ['connection_history', 'sync_job_configurations', 'field_mappings', 'audit_log'].map(
        keptLabel,
      ),
    ).toEqual(['Connection history', 'Sync job settings', 'Field mappings', 'Audit log']);
    expect(keptLabel('webhook_secrets')).toBe('Webhook secrets');
  });

  it('says why Unlink cannot run now', () => {
    const p = { liveConnections: 0 };
    expect(unlinkBlockedText({ ...p, blockedBy: null }, 'QuickBooks')).toBeNull();
    expect(
      unlinkBlockedText({ ...p, blockedBy: 'connections_live', liveConnections: 2 }, 'QuickBooks'),
    ).toMatch(/^Disconnect every connection first \(2 live\)/);
    expect(unlinkBlockedText({ ...p, blockedBy: 'not_pinned' }, 'QuickBooks')).toMatch(
      /not linked to any provider organization/,
    );
    expect(unlinkBlockedText({ ...p, blockedBy: 'unlink_in_progress' }, 'QuickBooks')).toMatch(
      /already under way/,
    );
  });
});

describe('the unlink as it runs and ends', () => {
  it('titles the dialog by where the unlink is', () => {
    expect(unlinkDialogTitle('QuickBooks', 'acme', null, false)).toBe(
      'Unlink QuickBooks from acme?',
    );
    expect(unlinkDialogTitle('QuickBooks', null, null, false)).toBe('Unlink QuickBooks?');
    expect(unlinkDialogTitle('QuickBooks', 'acme', { status: 'running' }, true)).toBe(
      'Unlinking QuickBooks…',
    );
    expect(unlinkDialogTitle('QuickBooks', 'acme', { status: 'completed' }, true)).toBe(
      'QuickBooks unlinked',
    );
    expect(unlinkDialogTitle('QuickBooks', 'acme', { status: 'failed' }, true)).toBe(
      'Unlink of QuickBooks stopped part-way',
    );
    expect(unlinkDialogTitle('QuickBooks', 'acme', { status: 'compensated' }, true)).toBe(
      'QuickBooks was not unlinked',
    );
    expect(unlinkEndedAnnouncement('QuickBooks', { status: 'compensated' })).toBe(
      'QuickBooks was not unlinked: nothing was erased.',
    );
  });

  it('names the steps in words', () => {
    expect(unlinkStepLabel('erase-data')).toBe('Erase synced records and external references');
    expect(unlinkStepLabel('unpin-tenant')).toBe('Remove the link to the provider organization');
    expect(unlinkStepLabel('tell-the-world')).toBe('Tell the world');
  });

  it('words the edge’s refusals by their reason, never its message', () => {
    expect(unlinkRefusalText('CONFLICT', 'instance_in_use')).toMatch(
      /^Someone is connected to it: disconnect every connection first/,
    );
    expect(unlinkRefusalText('PRECONDITION_FAILED', 'tenant_changed')).toMatch(
      /no longer linked to what you typed/,
    );
    expect(unlinkRefusalText('PRECONDITION_FAILED', 'not_pinned')).toMatch(/nothing to unlink/);
    expect(unlinkRefusalText('FORBIDDEN', undefined)).toBe(
      'Only admins may unlink an integration.',
    );
    expect(unlinkRefusalText('INTERNAL_SERVER_ERROR', undefined)).toBeNull();
    // A compensated saga: its hold's refusal, else the step and the cause.
    expect(
      unlinkSagaErrorText({ step: 'hold', code: 'CONFLICT', reason: 'instance_in_use' }),
    ).toMatch(/^Someone is connected/);
    expect(unlinkSagaErrorText({ step: 'erase-data', code: 'TIMEOUT', reason: 'timeout' })).toBe(
      "“Erase synced records and external references” failed: one of Otesse's services took too long to answer.",
    );
    expect(unlinkSagaErrorText(null)).toBe('');
  });

  it('reads what the finished saga erased from its steps’ results', () => {
    expect(
      readUnlinkSummary({
        hold: { endedConnections: 1 },
        'erase-data': { recordsErased: 40, referencesErased: 39 },
        'unpin-tenant': { previousTenantId: 'acme', unlinkedAt: '2026-01-01T00:00:00Z' },
      }),
    ).toEqual({
      recordsErased: 40,
      referencesErased: 39,
      previousTenantId: 'acme',
      dataErased: true,
    });
    expect(readUnlinkSummary(null)).toEqual({
      recordsErased: null,
      referencesErased: null,
      previousTenantId: null,
      dataErased: false,
    });
    expect(readUnlinkSummary({ 'erase-data': 'odd' }).dataErased).toBe(false);
  });
});
