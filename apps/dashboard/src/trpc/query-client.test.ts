import { describe, expect, it } from 'vitest';
import { TRPCClientError } from '@trpc/client';
import { errorMessage, trpcCode } from './query-client';

/** An error as the tRPC client hands it over from the edge's answer. */
const fromEdge = (message: string, data: Record<string, unknown>) =>
  TRPCClientError.from({ error: { message, code: -32600, data } });

describe('errorMessage', () => {
  it('says bad input field by field, not as the validator’s JSON', () => {
    const error = fromEdge(
      JSON.stringify([
        { code: 'invalid_format', path: ['senders', 1, 'email'], message: 'Invalid email address' },
      ]),
      {
        code: 'BAD_REQUEST',
        zodIssues: [
          {
            path: ['senders', 1, 'email'],
            message: 'Invalid email address',
            code: 'invalid_format',
          },
          {
            path: ['apiKey'],
            message: 'Too big: expected string to have <=256 characters',
            code: 'too_big',
          },
          { path: [], message: 'Unrecognized key: "x"', code: 'unrecognized_keys' },
        ],
      },
    );
    expect(trpcCode(error)).toBe('BAD_REQUEST');
    expect(errorMessage(error)).toBe(
      'senders 2 email: Invalid email address; apiKey: Too big: expected string to have <=256 characters; Unrecognized key: "x"',
    );
  });

  it('keeps the edge’s own words for every other failure', () => {
    expect(
      errorMessage(
        fromEdge('Postmark is being disconnected', { code: 'CONFLICT', zodIssues: null }),
      ),
    ).toBe('Postmark is being disconnected');
    expect(errorMessage(new Error('Failed to fetch'))).toBe('Failed to fetch');
    expect(errorMessage('?')).toBe('Something went wrong. Please try again.');
  });
});
