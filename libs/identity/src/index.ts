export * from './entities';
export * from './identity';
export * from './token-use';
