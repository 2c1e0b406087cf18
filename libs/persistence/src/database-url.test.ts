import { describe, expect, it } from 'vitest';
import { redactUrl } from './database-url';

describe('redactUrl', () => {
  it('hides a password wherever a URL carries one, and keeps the rest to say where it points', () => {
    expect(redactUrl('postgres://otesse_edge:s3cret@db.internal:5432/otesse')).toBe(
      'postgres://otesse_edge:***@db.internal:5432/otesse',
    );
    expect(
      redactUrl(
        'postgres://otesse_edge@db.internal/otesse?password=s3cret&sslmode=verify-full&SSLPassword=k3y',
      ),
    ).toBe(
      'postgres://otesse_edge@db.internal/otesse?password=***&sslmode=verify-full&SSLPassword=***',
    );
    expect(redactUrl('nats://edge:pw@nats:4222')).toBe('nats://edge:***@nats:4222');
    expect(redactUrl('postgres://127.0.0.1:5432/otesse')).toBe('postgres://127.0.0.1:5432/otesse');
  });

  it('prints nothing of a value that does not parse', () => {
    expect(redactUrl('postgres://user:p@ss word@')).not.toContain('p@ss');
    expect(redactUrl('not a url s3cret')).toBe('(a value that is not a URL)');
  });
});
