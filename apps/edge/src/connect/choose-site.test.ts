import { describe, expect, it } from 'vitest';
import { chooseSite } from './choose-site';

const site = (id: string) => ({ id, name: `Site ${id}`, url: `https://${id}.atlassian.net` });
const none = { hasSites: false, chosen: undefined };
const sites = (chosen?: string) => ({ hasSites: true, chosen });
const reaching = (...ids: string[]) => ({ tenantId: ids[0] ?? null, sites: ids.map(site) });

describe('chooseSite', () => {
  it('keeps the identity tenant of a provider without sites', () => {
    expect(chooseSite({ tenantId: 'T123', sites: [] }, none, [{ tenantId: 'T999' }])).toEqual({
      ok: true,
      tenantId: 'T123',
      siteName: null,
    });
  });

  it("puts the connection on the admin's chosen site, wherever the provider lists it", () => {
    expect(chooseSite(reaching('initech', 'acme'), sites('acme'), [])).toEqual({
      ok: true,
      tenantId: 'acme',
      siteName: 'Site acme',
    });
  });

  it("joins the site of the instance's newest connection when none was chosen", () => {
    expect(
      chooseSite(reaching('initech', 'acme'), sites(), [
        { tenantId: null },
        { tenantId: 'initech' },
        { tenantId: 'acme' },
      ]),
    ).toMatchObject({ ok: true, tenantId: 'acme' });
  });

  it("the chosen site wins over the connections' history", () => {
    expect(
      chooseSite(reaching('initech', 'acme'), sites('initech'), [{ tenantId: 'acme' }]),
    ).toMatchObject({ ok: true, tenantId: 'initech' });
  });

  it('refuses a token that does not reach the instance site, listing the sites it does reach', () => {
    expect(chooseSite(reaching('initech'), sites(), [{ tenantId: 'acme' }])).toEqual({
      ok: false,
      reason: 'site_not_reachable',
      sites: [site('initech')],
    });
    expect(chooseSite(reaching('initech', 'globex'), sites('acme'), [])).toMatchObject({
      ok: false,
      reason: 'site_not_reachable',
    });
    // An account that reaches no site proves neither the chosen one nor any other.
    expect(chooseSite(reaching(), sites('acme'), [])).toMatchObject({
      ok: false,
      reason: 'site_not_reachable',
    });
    expect(chooseSite(reaching(), sites(), [])).toEqual({
      ok: false,
      reason: 'site_not_reachable',
      sites: [],
    });
  });

  it("takes a new instance's only site, and asks which one when the user reaches several", () => {
    expect(chooseSite(reaching('acme'), sites(), [])).toEqual({
      ok: true,
      tenantId: 'acme',
      siteName: 'Site acme',
    });
    expect(chooseSite(reaching('initech', 'acme'), sites(), [])).toEqual({
      ok: false,
      reason: 'site_choice_required',
      sites: [site('initech'), site('acme')],
    });
  });
});

describe('chooseSite on an instance pinned to a tenant', () => {
  const pinned = (tenantId: string, hasSites = false, chosen?: string) => ({
    hasSites,
    chosen,
    tenantId,
  });

  it('takes an account of the pinned tenant, and refuses any other (QuickBooks realm, HubSpot portal…)', () => {
    expect(chooseSite({ tenantId: 'realm-1', sites: [] }, pinned('realm-1'), [])).toEqual({
      ok: true,
      tenantId: 'realm-1',
      siteName: null,
    });
    expect(chooseSite({ tenantId: 'realm-2', sites: [] }, pinned('realm-1'), [])).toEqual({
      ok: false,
      reason: 'tenant_mismatch',
      sites: [],
    });
  });

  it('refuses an account that names no tenant: it cannot be shown to be of the pinned one', () => {
    expect(chooseSite({ tenantId: null, sites: [] }, pinned('acme.com'), [])).toMatchObject({
      ok: false,
      reason: 'tenant_mismatch',
    });
  });

  it("keeps a provider with sites on the pinned site, over the connections' history", () => {
    expect(
      chooseSite(reaching('initech', 'acme'), pinned('acme', true), [{ tenantId: 'initech' }]),
    ).toMatchObject({ ok: true, tenantId: 'acme' });
    expect(chooseSite(reaching('initech'), pinned('acme', true), [])).toMatchObject({
      ok: false,
      reason: 'site_not_reachable',
    });
  });

  it('an instance not pinned yet takes whatever tenant the account is of', () => {
    expect(
      chooseSite(
        { tenantId: 'hub-2', sites: [] },
        { hasSites: false, chosen: undefined, tenantId: null },
        [],
      ),
    ).toMatchObject({ ok: true, tenantId: 'hub-2' });
  });
});
