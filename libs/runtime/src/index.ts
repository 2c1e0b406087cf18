export * from './health-server';
export * from './run-service';
export * from './periodic-task';
export * from './run-main';
export * from './bounded-ttl-map';
export * from './uuid-v7';
