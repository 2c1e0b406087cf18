import { ProcessedCommandSchema } from '@otesse/persistence';
import { ConnectionJobHoldSchema } from './connection-job-hold.entity';
import { ConnectionLineageSchema } from './connection-lineage.entity';
import { ExecutionTallySchema } from './execution-tally.entity';
import { ExternalReferenceSchema } from './external-reference.entity';
import { FieldMappingSchema } from './field-mapping.entity';
import { RecordTallySchema } from './record-tally.entity';
import { ReferenceRestoreSchema } from './reference-restore.entity';
import { ReferenceStaleMarkSchema } from './reference-stale-mark.entity';
import { ReferenceTallySchema } from './reference-tally.entity';
import { SyncExecutionSchema } from './sync-execution.entity';
import { SyncJobSchema } from './sync-job.entity';
import { SyncedRecordSchema } from './synced-record.entity';

export * from './connection-job-hold.entity';
export * from './connection-lineage.entity';
export * from './execution-tally.entity';
export * from './external-reference.entity';
export * from './field-mapping.entity';
export * from './record-tally.entity';
export * from './reference-restore.entity';
export * from './reference-stale-mark.entity';
export * from './reference-tally.entity';
export * from './sync-execution.entity';
export * from './sync-job.entity';
export * from './synced-record.entity';
// Saga commands (disable jobs, cancel executions, mark references stale) are made idempotent through it.
export const entities = [
  SyncJobSchema,
  SyncExecutionSchema,
  ExecutionTallySchema,
  ExternalReferenceSchema,
  ReferenceStaleMarkSchema,
  ReferenceRestoreSchema,
  ReferenceTallySchema,
  ConnectionLineageSchema,
  ConnectionJobHoldSchema,
  SyncedRecordSchema,
  RecordTallySchema,
  FieldMappingSchema,
  ProcessedCommandSchema,
];
