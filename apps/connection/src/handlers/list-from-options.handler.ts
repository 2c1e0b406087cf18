import type { MikroORM } from '@mikro-orm/postgresql';
import type { TConnectionDetails } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { BUILTIN_PROVIDERS } from '@otesse/providers';
import { SCHEMA } from '../store/connection.store';

/** Vendors whose connections feed the Email Builder "From" dropdown (Postmark). */
export const EMAIL_VENDORS: readonly string[] = BUILTIN_PROVIDERS.filter(
  (p) => p.category === 'email',
).map((p) => p.key);

/** Sender emails of the org's connected email connections; an email listed twice appears once (first connected). */
export function listFromOptionsHandler(
  orm: MikroORM,
): THandler<'connection.email-builder.from-options'> {
  return async (req) => {
    const rows = (await orm.em
      .getConnection()
      .getKnex()('integration_connection')
      .withSchema(SCHEMA)
      .where({ org_id: req.orgId, status: 'connected' })
      .whereIn('vendor', [...EMAIL_VENDORS])
      .orderBy([{ column: 'connected_at' }, { column: 'id' }])
      .select('id', 'vendor', 'details')) as {
      id: string;
      vendor: string;
      details: TConnectionDetails;
    }[];
    const seen = new Set<string>();
    const options: { email: string; vendor: string; connectionId: string }[] = [];
    for (const r of rows) {
      for (const email of r.details.senderEmails ?? []) {
        const key = email.toLowerCase();
        if (seen.has(key)) continue;
        seen.add(key);
        options.push({ email, vendor: r.vendor, connectionId: r.id });
      }
    }
    return { options };
  };
}
