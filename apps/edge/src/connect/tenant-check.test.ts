import { describe, expect, it } from 'vitest';
import { tenantCheck } from './reconnect-connection';

const identity = (...tenantIds: string[]) => ({ tenantIds });

describe('the tenant check of reconnect and changeUser', () => {
  it("matches the connection's tenant anywhere among the sites the token reaches", () => {
    expect(tenantCheck('acme', identity('acme'), 'changeUser')).toBe('match');
    expect(tenantCheck('acme', identity('initech', 'acme'), 'changeUser')).toBe('match');
    expect(tenantCheck('acme', identity('initech', 'acme'), 'reconnect')).toBe('match');
  });

  it('refuses another tenant', () => {
    expect(tenantCheck('acme', identity('globex'), 'changeUser')).toBe('tenant_mismatch');
    expect(tenantCheck('acme', identity('globex'), 'reconnect')).toBe('tenant_mismatch');
    expect(tenantCheck(null, identity('globex'), 'reconnect')).toBe('tenant_mismatch');
  });

  it('refuses to change the user when either side names no domain; a reconnect (same account) may go on', () => {
    expect(tenantCheck('acme', identity(), 'changeUser')).toBe('tenant_unknown');
    expect(tenantCheck(null, identity('acme'), 'changeUser')).toBe('tenant_unknown');
    expect(tenantCheck(null, identity(), 'changeUser')).toBe('tenant_unknown');
    expect(tenantCheck(null, identity(), 'reconnect')).toBe('match');
    expect(tenantCheck('acme', identity(), 'reconnect')).toBe('tenant_mismatch');
  });

  it("matches by construction where the tenant is the instance's host (ServiceNow, Zendesk), a null stored one too", () => {
    expect(tenantCheck(null, identity('acme.zendesk.com'), 'changeUser', true)).toBe('match');
    expect(tenantCheck(null, identity(), 'changeUser', true)).toBe('match');
    expect(
      tenantCheck('acme.service-now.com', identity('acme.service-now.com'), 'reconnect', true),
    ).toBe('match');
  });
});
