import { z } from 'zod';

/**
 * The OpenTelemetry variables Otesse reads (standard names, so a collector's usual setup works). No endpoint:
 * no exporter, spans are never created and only the trace ids travel.
 */
export const ZTelemetryEnv = z.object({
  OTEL_SDK_DISABLED: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  /** Base URL of an OTLP/HTTP receiver (a collector, Jaeger, Tempo…); traces go to `<url>/v1/traces`. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  /** Full traces URL; wins over OTEL_EXPORTER_OTLP_ENDPOINT. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  /** `key=value,key2=value2` sent with every export (a collector's API key). */
  OTEL_EXPORTER_OTLP_HEADERS: z
    .string()
    .regex(/^\s*[^=,\s]+\s*=[^,]*(,\s*[^=,\s]+\s*=[^,]*)*\s*$/, 'expected key=value[,key=value]')
    .optional(),
  /** How long finished spans wait before a batch is sent (ms). */
  OTEL_BSP_SCHEDULE_DELAY: z.coerce.number().int().min(1).max(60_000).default(2_000),
  SERVICE_INSTANCE_ID: z.string().min(1).optional(),
});
export type TTelemetryEnv = z.infer<typeof ZTelemetryEnv>;

export interface TTelemetryConfig {
  /** Where spans are exported; unset = tracing off. */
  tracesUrl?: string | undefined;
  headers?: Record<string, string>;
  scheduleDelayMs?: number;
  instanceId?: string | undefined;
}

/** Parsed env → the config `initTracing` takes. Throws a message that lists every bad variable. */
export function telemetryConfigFromEnv(
  source: Record<string, string | undefined> = process.env,
): TTelemetryConfig {
  const r = ZTelemetryEnv.safeParse(source);
  if (!r.success) {
    throw new Error(
      'telemetry: invalid environment\n' +
        r.error.issues.map((i) => `  - ${i.path.join('.')}: ${i.message}`).join('\n'),
    );
  }
  const env = r.data;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/+$/, '');
  const tracesUrl = env.OTEL_SDK_DISABLED
    ? undefined
    : (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (base ? `${base}/v1/traces` : undefined));
  const headers: Record<string, string> = {};
  for (const pair of env.OTEL_EXPORTER_OTLP_HEADERS?.split(',') ?? []) {
    const at = pair.indexOf('=');
    headers[decodeURIComponent(pair.slice(0, at).trim())] = decodeURIComponent(
      pair.slice(at + 1).trim(),
    );
  }
  return {
    tracesUrl,
    headers,
    scheduleDelayMs: env.OTEL_BSP_SCHEDULE_DELAY,
    instanceId: env.SERVICE_INSTANCE_ID,
  };
}
