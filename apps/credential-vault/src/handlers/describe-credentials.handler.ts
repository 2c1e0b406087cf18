import type { THandler } from '@otesse/messaging';
import { CredentialSchema } from '../entities';
import type { TVaultDeps } from './deps';

/** Metadata only: the secret columns are not even selected. */
export function describeCredentialsHandler(
  deps: Pick<TVaultDeps, 'orm'>,
): THandler<'vault.credentials.describe'> {
  return async (req) => {
    const rows = await deps.orm.em.fork().find(
      CredentialSchema,
      {
        orgId: req.orgId,
        connectionId: req.connectionId,
        ...(req.includeDeleted ? {} : { isDeleted: false }),
      },
      {
        fields: [
          'id',
          'connectionId',
          'vendor',
          'kind',
          'isActive',
          'isDeleted',
          'retiredAt',
          'expiresAt',
          'keyId',
          'createdAt',
          'updatedAt',
          'deletedAt',
        ],
        orderBy: { createdAt: 'asc', kind: 'asc', id: 'asc' },
      },
    );
    return {
      credentials: rows.map((r) => ({
        id: r.id,
        connectionId: r.connectionId,
        vendor: r.vendor,
        kind: r.kind,
        isActive: r.isActive,
        isDeleted: r.isDeleted,
        retiredAt: r.retiredAt?.toISOString() ?? null,
        expiresAt: r.expiresAt?.toISOString() ?? null,
        keyId: r.keyId,
        createdAt: r.createdAt.toISOString(),
        updatedAt: r.updatedAt.toISOString(),
        deletedAt: r.deletedAt?.toISOString() ?? null,
      })),
    };
  };
}
