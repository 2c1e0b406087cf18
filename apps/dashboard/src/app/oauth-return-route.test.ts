import { describe, expect, it } from 'vitest';
import { oauthReturnHash } from './oauth-return-route';

describe('after a provider, back to the screen the flow started from', () => {
  it('lands on the remembered screen when the edge sent the browser back to the root', () => {
    expect(oauthReturnHash('?oauth=connected&vendor=google', '', 'connections')).toBe(
      '#/connections',
    );
    expect(
      oauthReturnHash('?oauth=refused&vendor=google&action=changeUser', '#/', 'operations'),
    ).toBe('#/operations');
  });

  it('never anywhere but a screen of this dashboard', () => {
    expect(oauthReturnHash('?oauth=connected', '', 'https://evil.example/')).toBe('#/integrations');
    expect(oauthReturnHash('?oauth=connected', '', '//evil.example')).toBe('#/integrations');
    expect(oauthReturnHash('?oauth=connected', '', '../audit')).toBe('#/integrations');
  });

  it('changes nothing on an ordinary load, or when the URL already names a screen', () => {
    expect(oauthReturnHash('', '', 'connections')).toBeNull();
    expect(oauthReturnHash('?oauth=connected', '#/audit', 'connections')).toBeNull();
    expect(oauthReturnHash('?oauth=connected', '', null)).toBeNull();
  });
});
