import { afterAll, describe, expect, it } from 'vitest';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { initTracing, runInSpan, shutdownTracing, startSpan } from '@otesse/telemetry';
import { createLogger } from './index';

function capture(level = 'debug') {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const logger = createLogger({
    name: 'test',
    level,
    destination: {
      write: (s: string) => {
        raw.push(s);
        lines.push(JSON.parse(s) as Record<string, unknown>);
      },
    },
  });
  return { logger, lines, raw };
}

describe('createLogger', () => {
  afterAll(async () => {
    await shutdownTracing();
  });

  it('writes JSON lines with the service, level and no secret, wherever it hides', () => {
    const { logger, lines, raw } = capture();
    logger.info(
      {
        accessToken: 'at-SECRET-1',
        nested: {
          refresh_token: 'rt-SECRET-2',
          apiKey: 'key-SECRET-3',
          clientSecret: 'cs-SECRET-4',
        },
        credentials: [{ kind: 'access', value: 'v-SECRET-5' }],
        req: { headers: { authorization: 'Bearer SECRET-6' } },
        masterKey: 'mk-SECRET-7',
        secret: 'SECRET-8',
        connectionId: 'c1',
      },
      'stored',
    );
    expect(lines[0]).toMatchObject({
      level: 'info',
      service: 'test',
      msg: 'stored',
      connectionId: 'c1',
    });
    expect(raw.join('')).not.toMatch(/SECRET/);
  });

  it('drops SQL detail from errors', () => {
    const { logger, raw } = capture();
    const err = Object.assign(new Error('duplicate key'), {
      detail: 'Key (ciphertext)=(SECRET-9) already exists.',
      parameters: ['SECRET-10'],
    });
    logger.error({ err }, 'insert failed');
    expect(raw.join('')).toContain('duplicate key');
    expect(raw.join('')).not.toMatch(/SECRET/);
  });

  it("puts the active span's trace and span ids on every line; a line's own traceId wins", async () => {
    const { logger, lines } = capture();
    logger.info('before tracing');
    expect(lines[0]).not.toHaveProperty('spanId');
    initTracing({ exporter: new InMemorySpanExporter(), simple: true });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const span = startSpan('test', 'work', { parent: { traceId, spanId: '00f067aa0ba902b7' } });
    await runInSpan(span, async () => {
      await Promise.resolve();
      logger.info('inside');
      logger.child({ step: 'x' }).warn({ traceId: 'own-id' }, 'explicit');
    });
    span.end();
    logger.info('after');
    expect(lines[1]).toMatchObject({ msg: 'inside', traceId, spanId: span.spanContext().spanId });
    expect(lines[2]).toMatchObject({ msg: 'explicit', traceId: 'own-id', step: 'x' });
    expect(lines[2]!['spanId']).toBe(span.spanContext().spanId);
    expect(lines[3]).not.toHaveProperty('traceId');
  });
});
