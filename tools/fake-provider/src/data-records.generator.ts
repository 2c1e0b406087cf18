import { createHash } from 'node:crypto';

import type { TDataResource } from './fake-provider.types.js';

export interface TContact {
  id: string;
  name: string;
  email: string;
  updatedAt: string;
}
export interface TInvoice {
  id: string;
  number: string;
  amount: number;
  currency: string;
  updatedAt: string;
}
export interface TTicket {
  id: string;
  title: string;
  status: string;
  updatedAt: string;
}
export type TDataRecord = TContact | TInvoice | TTicket;

const FIRST = [
  'Ada',
  'Ben',
  'Cleo',
  'Dan',
  'Eve',
  'Finn',
  'Gia',
  'Hugo',
  'Ivy',
  'Jon',
  'Kai',
  'Lea',
];
const LAST = [
  'Archer',
  'Baker',
  'Clark',
  'Dunn',
  'Ellis',
  'Ford',
  'Grant',
  'Hayes',
  'Irwin',
  'Jones',
];
const CURRENCIES = ['USD', 'EUR', 'GBP'];
const SUBJECTS = ['Login fails', 'Invoice missing', 'Export is slow', 'Password reset', 'API 500s'];
const STATUSES = ['open', 'pending', 'solved', 'closed'];
const EPOCH = Date.UTC(2024, 0, 1);

function pick<T>(list: readonly T[], n: number): T {
  return list[n % list.length] as T;
}

/** Deterministic per (tenant, resource, n) so repeated syncs see identical data. */
function seed(tenantId: string, resource: TDataResource, n: number): number {
  return createHash('sha256').update(`${tenantId}:${resource}:${n}`).digest().readUInt32BE(0);
}

/** Record n (1-based); updatedAt ascends with n so incremental syncs have a natural order. */
export function dataRecord(tenantId: string, resource: TDataResource, n: number): TDataRecord {
  const h = seed(tenantId, resource, n);
  const updatedAt = new Date(EPOCH + n * 3_600_000 + (h % 3_600) * 1000).toISOString();
  switch (resource) {
    case 'contacts': {
      const first = pick(FIRST, h);
      const last = pick(LAST, h >>> 8);
      return {
        id: `ct-${n}`,
        name: `${first} ${last}`,
        email: `${first}.${last}.${n}@${tenantId}.test`.toLowerCase(),
        updatedAt,
      };
    }
    case 'invoices':
      return {
        id: `inv-${n}`,
        number: `INV-${tenantId.toUpperCase()}-${String(n).padStart(5, '0')}`,
        amount: (h % 500_000) / 100,
        currency: pick(CURRENCIES, h >>> 4),
        updatedAt,
      };
    case 'tickets':
      return {
        id: `tk-${n}`,
        title: `${pick(SUBJECTS, h)} (#${n})`,
        status: pick(STATUSES, h >>> 4),
        updatedAt,
      };
  }
}

export function dataPage(
  tenantId: string,
  resource: TDataResource,
  total: number,
  offset: number,
  limit: number,
): { items: TDataRecord[]; nextOffset: number | null } {
  const end = Math.min(total, offset + limit);
  const items: TDataRecord[] = [];
  for (let i = offset; i < end; i += 1) items.push(dataRecord(tenantId, resource, i + 1));
  return { items, nextOffset: end < total ? end : null };
}
