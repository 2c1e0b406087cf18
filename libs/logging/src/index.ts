import { pino, type Logger, type LoggerOptions } from 'pino';
import { activeTraceFields } from '@otesse/telemetry';

export type { Logger } from 'pino';

/**
 * Paths pino censors wherever they appear. Secrets should never be logged in the first place; this is the
 * second line of defence for a payload logged by mistake.
 */
export const REDACT_PATHS = [
  'accessToken',
  'refreshToken',
  'access_token',
  'refresh_token',
  'id_token',
  'apiKey',
  'clientSecret',
  'client_secret',
  'password',
  'value',
  'token',
  'authorization',
  'cookie',
  'secret',
  'masterKey',
  'sessionSecret',
  'plaintext',
  '*.accessToken',
  '*.refreshToken',
  '*.access_token',
  '*.refresh_token',
  '*.id_token',
  '*.apiKey',
  '*.clientSecret',
  '*.client_secret',
  '*.password',
  '*.value',
  '*.token',
  '*.authorization',
  '*.cookie',
  '*.secret',
  '*.masterKey',
  '*.sessionSecret',
  '*.plaintext',
  'req.headers.authorization',
  'req.headers.cookie',
  'credentials[*].value',
  '*.credentials[*].value',
];

/**
 * pino's error serializer plus: Postgres' `detail`/`where` (which can quote whole rows, ciphertext included)
 * and any `cause` chain payloads are dropped.
 */
function safeErr(err: unknown): unknown {
  const s = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  if (s && typeof s === 'object') {
    delete s['detail'];
    delete s['where'];
    delete s['parameters'];
    delete s['sql'];
  }
  return s;
}

export function createLogger(opts: {
  name: string;
  level?: string;
  /** Extra fields on every line (service instance id…). */
  base?: Record<string, unknown>;
  destination?: pino.DestinationStream;
}): Logger {
  const options: LoggerOptions = {
    name: opts.name,
    level: opts.level ?? 'info',
    base: { service: opts.name, ...opts.base },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: safeErr, error: safeErr },
    // The active span's ids on every line (tracing on); a line's own `traceId` field wins.
    mixin: activeTraceFields,
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
