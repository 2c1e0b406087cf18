import { createContext, useContext } from 'react';

export interface TDisconnectTarget {
  connectionId: string;
  providerName: string;
  /** Show this saga (already started, or stopped) instead of asking to confirm a new disconnect. */
  sagaId?: string;
}

export const DisconnectDialogContext = createContext<((target: TDisconnectTarget) => void) | null>(
  null,
);

/**
 * Opens the disconnect dialog. It is hosted above the pages, not by the button: the button disappears as soon as
 * the connection turns `disconnecting`, and the dialog must stay to show progress and the result.
 */
export function useOpenDisconnectDialog(): (target: TDisconnectTarget) => void {
  const open = useContext(DisconnectDialogContext);
  if (!open) throw new Error('useOpenDisconnectDialog needs a <DisconnectDialogHost>');
  return open;
}
