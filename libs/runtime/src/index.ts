export * from './health-server';
export * from './run-service';
