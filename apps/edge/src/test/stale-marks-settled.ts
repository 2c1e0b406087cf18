import { waitFor, type TTestDatabase } from '@otesse/testing';

/**
 * The disconnect's step 6 writes a stale mark; the sync scheduler updates the reference rows a moment later (any
 * reader through the service sees the mark at once). Tests that read the rows directly wait for that.
 */
export async function staleMarksSettled(db: Pick<TTestDatabase, 'query'>): Promise<void> {
  await waitFor(
    async () =>
      (
        await db.query<{ n: string }>(
          'select count(*) as n from sync.reference_stale_mark where materialized_at is null',
        )
      )[0]!.n === '0',
  );
}
