import { describe, expect, it } from 'vitest';
import { formatTraceparent, parseTraceparent, rootSpanIdOf, toOtelTraceId } from './trace-context';
import { telemetryConfigFromEnv } from './telemetry-env.schema';

describe('trace context', () => {
  it('keeps an Otesse trace id (32 hex) as the OTel trace id and maps anything else to a stable one', () => {
    const id = '4bf92f3577b34da6a3ce929d0e0e4736';
    expect(toOtelTraceId(id)).toBe(id);
    expect(toOtelTraceId('4BF92F35-77B3-4DA6-A3CE-929D0E0E4736')).toBe(id);
    const mapped = toOtelTraceId('client-trace-123');
    expect(mapped).toMatch(/^[0-9a-f]{32}$/);
    expect(toOtelTraceId('client-trace-123')).toBe(mapped);
    expect(toOtelTraceId('0'.repeat(32))).not.toBe('0'.repeat(32));
  });

  it('formats and parses W3C traceparent, refusing invalid ones', () => {
    const tp = formatTraceparent('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7');
    expect(tp).toBe('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    expect(parseTraceparent(tp)).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      sampled: true,
    });
    expect(parseTraceparent(tp.replace(/-01$/, '-00'))?.sampled).toBe(false);
    for (const bad of [
      undefined,
      '',
      'garbage',
      `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      `${tp}-extra`,
      tp.toUpperCase(),
    ]) {
      expect(parseTraceparent(bad)).toBeUndefined();
    }
    // A later version may append fields.
    expect(parseTraceparent(`01-${tp.slice(3)}-future`)?.spanId).toBe('00f067aa0ba902b7');
  });

  it('derives a non-zero root span id from the trace id', () => {
    expect(rootSpanIdOf('4bf92f3577b34da6a3ce929d0e0e4736')).toBe('a3ce929d0e0e4736');
    expect(rootSpanIdOf('4bf92f3577b34da60000000000000000')).toBe('4bf92f3577b34da6');
  });
});

describe('telemetry env', () => {
  it('is off without an endpoint and builds the traces URL from the base endpoint', () => {
    expect(telemetryConfigFromEnv({}).tracesUrl).toBeUndefined();
    const cfg = telemetryConfigFromEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=abc%3D,tenant = t1',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    expect(cfg).toMatchObject({
      tracesUrl: 'http://collector:4318/v1/traces',
      headers: { 'x-api-key': 'abc=', tenant: 't1' },
      scheduleDelayMs: 100,
    });
    expect(
      telemetryConfigFromEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:4318/traces',
      }).tracesUrl,
    ).toBe('http://b:4318/traces');
    expect(
      telemetryConfigFromEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318',
        OTEL_SDK_DISABLED: 'true',
      }).tracesUrl,
    ).toBeUndefined();
  });

  it('refuses bad values with the variable named', () => {
    expect(() => telemetryConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT/,
    );
    expect(() => telemetryConfigFromEnv({ OTEL_BSP_SCHEDULE_DELAY: 'soon' })).toThrow(
      /OTEL_BSP_SCHEDULE_DELAY/,
    );
    expect(() => telemetryConfigFromEnv({ OTEL_EXPORTER_OTLP_HEADERS: 'novalue' })).toThrow(
      /OTEL_EXPORTER_OTLP_HEADERS/,
    );
  });
});
