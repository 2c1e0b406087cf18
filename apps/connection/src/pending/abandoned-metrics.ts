import { counter } from '@otesse/telemetry';

/**
 * Connects abandoned, by who gave up on them: `requested` (the edge's clean-up after a failed connect),
 * `connect_expired` (the sweep: a connect past its bound, most often an edge killed mid-callback), `stale_pending`
 * (a new connect found one in its slot), `cancelled` (a person cancelled it from the dashboard). A steady rate of
 * `connect_expired` means edges die mid-connect.
 */
export const connectsAbandoned = counter(
  'otesse_connects_abandoned_total',
  'Pending connections abandoned (error), by how: requested, connect_expired, stale_pending, cancelled.',
  ['how'],
);
