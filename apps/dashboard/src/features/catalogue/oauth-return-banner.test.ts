import { TRPCClientError } from '@trpc/client';
import { describe, expect, it } from 'vitest';
import { retrySiteChoice, siteChoiceView } from './oauth-return-banner';

/** A tRPC error as the edge answers it (code and typed reason in `data`). */
const answered = (code: string, reason?: string) =>
  new TRPCClientError(code, {
    result: {
      error: {
        code: -32000,
        message: code,
        data: { code, httpStatus: 0, ...(reason ? { reason } : {}) },
      },
    },
  } as never);
/** No answer at all: the network, or the edge not reached. */
const network = () => TRPCClientError.from(new TypeError('Failed to fetch'));

describe('the site picker after a connect refused for its site (integrations.siteChoice)', () => {
  it('says the list is gone only when the edge answered NOT_FOUND', () => {
    expect(siteChoiceView('error', answered('NOT_FOUND', 'site_choice_not_found'))).toBe('expired');
    expect(siteChoiceView('error', answered('NOT_FOUND'))).toBe('expired');
  });

  it('says the list could not be loaded (and may be tried again) on a 503, a timeout, a network failure', () => {
    expect(siteChoiceView('error', answered('SERVICE_UNAVAILABLE', 'database_unavailable'))).toBe(
      'unavailable',
    );
    expect(siteChoiceView('error', answered('TIMEOUT'))).toBe('unavailable');
    expect(siteChoiceView('error', answered('INTERNAL_SERVER_ERROR'))).toBe('unavailable');
    expect(siteChoiceView('error', network())).toBe('unavailable');
    expect(siteChoiceView('error', new Error('boom'))).toBe('unavailable');
  });

  it('shows nothing while loading, and the sites once read', () => {
    expect(siteChoiceView('pending', null)).toBe('loading');
    expect(siteChoiceView('success', null)).toBe('ready');
  });

  it('retries a glitch up to 3 times, and never an answer', () => {
    for (const e of [answered('SERVICE_UNAVAILABLE'), answered('TIMEOUT'), network()]) {
      expect([0, 1, 2].map((n) => retrySiteChoice(n, e))).toEqual([true, true, true]);
      expect(retrySiteChoice(3, e)).toBe(false);
    }
    for (const code of ['NOT_FOUND', 'UNAUTHORIZED', 'FORBIDDEN', 'BAD_REQUEST']) {
      expect(retrySiteChoice(0, answered(code, 'site_choice_not_found')), code).toBe(false);
    }
  });
});
