import { describe, expect, it } from 'vitest';
import { personLabel } from './person';

const me = { userId: 'u-me', email: 'ada@acme.test' };
const max = { name: 'Max Member', email: 'max@acme.test' };

describe('personLabel: one way to name a user everywhere', () => {
  it('says You for the signed-in user, a name for anyone else, never an id', () => {
    expect(personLabel('u-me', null, me)).toBe('You');
    expect(personLabel('u-me', null, me, { withEmail: true })).toBe('You (ada@acme.test)');
    expect(personLabel('u-max', max, me)).toBe('Max Member');
    expect(personLabel('u-max', max, me, { withEmail: true })).toBe('Max Member (max@acme.test)');
  });

  it('falls back to the email for a nameless user, to words for one the caller may not see', () => {
    expect(personLabel('u-x', { name: ' ', email: 'x@acme.test' }, me, { withEmail: true })).toBe(
      'x@acme.test',
    );
    const id = '344a8307-1111-4222-8333-444455556666';
    expect(personLabel(id, null, me)).toBe('another user');
    expect(personLabel(id, null, me, { fallback: 'another member' })).toBe('another member');
    expect(personLabel(id, null, me)).not.toContain('344a8307');
    expect(personLabel(null, null, me)).toBe('System');
  });
});
