import { z } from 'zod';
import { ZDatabaseUrl, ZServiceEnv } from '@otesse/config';

export const ZAuditEnv = ZServiceEnv.extend({
  DATABASE_URL: ZDatabaseUrl.default('postgres://otesse_audit@127.0.0.1:5432/otesse'),
  /** The schema owner that runs migrations (default: DATABASE_URL as otesse_audit_owner, no password). */
  MIGRATIONS_DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
});
export type TAuditEnv = z.infer<typeof ZAuditEnv>;
