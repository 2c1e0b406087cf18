import type { THandler } from '@otesse/messaging';
import { dependentsOf } from '../dependents.registry';

export function listDependentsHandler(): THandler<'connection.dependents.list'> {
  return async (req) => ({ dependents: dependentsOf(req.vendor) });
}
