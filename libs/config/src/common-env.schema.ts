import { z } from 'zod';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/otesse';
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
/** The ORM pool's size when DATABASE_POOL_MAX is unset (libs/persistence's default too). */
export const DEFAULT_DATABASE_POOL_MAX = 10;

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
  /** Where the service answers /healthz, /readyz and /metrics; 0 = pick a free port, unset = none. */
  HEALTH_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /**
   * The interface of that server. Loopback by default (the container's own HEALTHCHECK reaches it); the images
   * set `0.0.0.0` so Prometheus and an orchestrator's probes reach it from outside the container. The edge
   * serves these on EDGE_HOST:EDGE_PORT instead.
   */
  HEALTH_HOST: z.string().trim().min(1).default('127.0.0.1'),
  /**
   * Most Postgres connections this process opens (its ORM pool). Mind the server's max_connections: the sum
   * over every process (replicas included) must stay below it (docs/RELIABILITY.md, "Scaling out").
   */
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(DEFAULT_DATABASE_POOL_MAX),
  SERVICE_INSTANCE_ID: z.string().optional(),
});
export type TServiceEnv = z.infer<typeof ZServiceEnv>;
