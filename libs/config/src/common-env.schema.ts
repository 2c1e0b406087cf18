import { z } from 'zod';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/otesse';
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

export const ZLogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** Variables every service shares: where Postgres and NATS are, and how loud to log. */
export const ZServiceEnv = z.object({
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).default(DEFAULT_DATABASE_URL),
  NATS_URL: z.string().min(1).default(DEFAULT_NATS_URL),
  NATS_USER: z.string().optional(),
  NATS_PASSWORD: z.string().optional(),
  /** JetStream replicas of the streams a service creates (3 on a 3-node cluster). */
  NATS_STREAM_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  LOG_LEVEL: ZLogLevel.default('info'),
  /** Where the service answers /healthz and /readyz; 0 = pick a free port, unset = none. */
  HEALTH_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  SERVICE_INSTANCE_ID: z.string().optional(),
});
export type TServiceEnv = z.infer<typeof ZServiceEnv>;
