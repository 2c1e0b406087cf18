export { startFakeProvider } from './fake-provider.server.js';
export type { TFakeProvider, TStartFakeProviderOptions } from './fake-provider.server.js';
export { FakeProviderState } from './fake-provider.state.js';
export { FakeProviderClient, FakeProviderControlError } from './fake-provider.client.js';
export type { TFakeProviderConfigPatch, TSetUsersBody } from './control.schemas.js';
export {
  DEFAULT_CONSENT_AS,
  DEFAULT_HOST,
  DEFAULT_PORT,
  defaultConfig,
  defaultUsers,
} from './fake-provider.defaults.js';
export { dataRecord } from './data-records.generator.js';
export type { TContact, TDataRecord, TInvoice, TTicket } from './data-records.generator.js';
export * from './fake-provider.types.js';
export * from './providers-file';
