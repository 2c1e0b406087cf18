export * from './entities';
export * from './identity';
