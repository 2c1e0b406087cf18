export * from './saga.entity';
export * from './saga-definition';
export * from './saga-engine';
export * from './deterministic-id';
export * from './stopped-sagas';
export * from './release-idempotency-records';
export * from './purge-saga-history';
