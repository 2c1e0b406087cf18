export * from './context';
export * from './codec';
export * from './nats-connection';
export * from './bus';
export * from './service-host';
export * from './jetstream';
