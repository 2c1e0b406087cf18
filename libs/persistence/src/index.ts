export * from './database-url';
export * from './provision';
export * from './orm';
export * from './generate-migration';
export * from './service-schemas';
export * from './idempotency';
export * from './sql-command';
export * from './revise-sql';
