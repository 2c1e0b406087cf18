import { router } from '../../trpc/trpc';
import { getDisconnectStatus } from './get-disconnect-status';
import { previewDisconnect } from './preview-disconnect';
import { startDisconnect } from './start-disconnect';
import { watchDisconnectProgress } from './watch-disconnect-progress';

/** Disconnect as a saga (seed 000): preview → start (confirm) → status / live progress. */
export const disconnectRouter = router({
  preview: previewDisconnect,
  start: startDisconnect,
  status: getDisconnectStatus,
  progress: watchDisconnectProgress,
});
