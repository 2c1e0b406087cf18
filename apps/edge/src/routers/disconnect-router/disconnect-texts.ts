/** The seed's confirmation dialog texts, word for word. */
export const DISCONNECT_BODY =
  'This will revoke access and delete all stored credentials. Any active sync jobs will stop. Previously synced data will be kept but marked as stale.';

export const disconnectTitle = (provider: string): string => `Disconnect ${provider}?`;
export const dependentWarning = (dependent: string): string =>
  `Disconnecting may affect ${dependent}.`;
export const jobsWarning = (count: number): string =>
  `${count} active sync job${count === 1 ? '' : 's'} will be disabled.`;
