/** Each service's schema and role. Shared so provisioning (npm start, tests, compose) creates them all alike. */
export const SERVICE_SCHEMAS = {
  edge: { schema: 'edge', role: 'otesse_edge' },
  'credential-vault': { schema: 'vault', role: 'otesse_vault' },
  connection: { schema: 'connection', role: 'otesse_connection' },
  'sync-scheduler': { schema: 'sync', role: 'otesse_sync' },
  // Append-only: a separate owner role holds the schema and runs migrations; the service runs as `role`,
  // which the migrations grant only what it needs (it can never UPDATE/DELETE audit rows).
  audit: { schema: 'audit', role: 'otesse_audit', ownerRole: 'otesse_audit_owner' },
} as const;
export type TServiceName = keyof typeof SERVICE_SCHEMAS;

/** The role that owns a service's schema and runs its migrations: its `ownerRole`, else its runtime role. */
export function migrationRoleOf(service: TServiceName): string {
  const s: { role: string; ownerRole?: string } = SERVICE_SCHEMAS[service];
  return s.ownerRole ?? s.role;
}
