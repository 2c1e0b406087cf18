export * from './provider.schema';
export * from './builtin-catalogue';
export * from './catalogue';
export * from './webhook-signature';
export * from './provider-fetch';
