import type { TSyncResource } from '@otesse/contracts';

/** localField ← remoteField pairs seeded once per (instance, resource); users edit them afterwards. */
export const DEFAULT_FIELD_MAPPINGS: Record<
  TSyncResource,
  readonly { localField: string; remoteField: string }[]
> = {
  contacts: [
    { localField: 'name', remoteField: 'name' },
    { localField: 'email', remoteField: 'email' },
  ],
  invoices: [
    { localField: 'number', remoteField: 'number' },
    { localField: 'amount', remoteField: 'amount' },
    { localField: 'currency', remoteField: 'currency' },
  ],
  tickets: [
    { localField: 'title', remoteField: 'title' },
    { localField: 'status', remoteField: 'status' },
  ],
};

/** Spreads first runs of jobs created together (a bulk reconnect, a busy minute) over up to a minute. */
export function firstRunJitterMs(everySeconds: number): number {
  return Math.floor(Math.random() * Math.min(60, everySeconds) * 1000);
}
