export * from './ports';
export * from './wait-for';
export * from './test-database';
export * from './nats-server';
export * from './child-process';
export * from './stack';
export * from './browser';
export * from './nats-users';
