import { counter } from '@otesse/telemetry';

/** Records written by syncs (committed batches only); `rate()` of it is the records/s a dashboard shows. */
export const syncRecordsSynced = counter(
  'otesse_sync_records_total',
  'Records synced from providers into synced_record (committed batches), by resource.',
  ['resource'],
);
