export const ROUTES = [
  { id: 'integrations', label: 'All Integrations' },
  { id: 'connections', label: 'Connections' },
  { id: 'operations', label: 'Operations' },
  { id: 'audit', label: 'Audit log' },
  { id: 'email-builder', label: 'Email Builder' },
] as const;

export type TRouteId = (typeof ROUTES)[number]['id'];

export function routeFromHash(hash: string): TRouteId {
  const id = hash.replace(/^#\/?/, '');
  return ROUTES.find((r) => r.id === id)?.id ?? 'integrations';
}
