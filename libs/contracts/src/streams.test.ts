import { describe, expect, it } from 'vitest';
import { eventContracts } from './index';
import { STREAMS, type TStreamName } from './streams';

/** NATS subject matching: `*` one token, `>` the rest (one token at least). */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i += 1) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

describe('streams and event contracts', () => {
  it('every event is captured by exactly the stream its contract names (JetStream refuses overlapping streams)', () => {
    for (const [subject, contract] of Object.entries(eventContracts)) {
      const holders = (Object.keys(STREAMS) as TStreamName[]).filter((name) =>
        STREAMS[name].subjects.some((p) => matches(p, subject)),
      );
      expect(holders, subject).toEqual([contract.stream]);
    }
  });

  it("a stream's moved-out subjects are another stream's now", () => {
    for (const [name, def] of Object.entries(STREAMS)) {
      for (const moved of 'movedOut' in def ? def.movedOut : []) {
        const others = Object.entries(STREAMS).filter(([other]) => other !== name);
        expect(
          others.some(([, o]) => o.subjects.includes(moved as never)),
          `${name}: ${moved}`,
        ).toBe(true);
      }
    }
  });

  it('matches subjects as NATS does', () => {
    expect(matches('integrations.connection.>', 'integrations.connection.connected')).toBe(true);
    expect(matches('integrations.connection.>', 'integrations.webhook.received')).toBe(false);
    expect(matches('integrations.>', 'integrations')).toBe(false);
    expect(matches('audit.entries.append', 'audit.entries.append')).toBe(true);
    expect(matches('audit.*', 'audit.entries.append')).toBe(false);
  });
});
