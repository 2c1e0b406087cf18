import { useCallback, useEffect, useRef } from 'react';
import { useRefreshIntegrationData } from '../../trpc/use-refresh-integration-data';

export type TOperationPhase = 'confirm' | 'running' | 'done';

/**
 * An operation dialog's phase (confirm, then its saga running, then how it ended) with what every such dialog does
 * at each: focus moved to what matters now (the button that had it disappears with each phase), the integrations
 * read again once it ended, and again on close (a close while it runs leaves it to finish in the background).
 */
export function useOperationPhase(opts: { sagaId: string | null; done: boolean; onClose(): void }) {
  const { sagaId, done, onClose } = opts;
  const refresh = useRefreshIntegrationData();
  const progressRef = useRef<HTMLDivElement>(null);
  const closeRef = useRef<HTMLButtonElement>(null);
  const phase: TOperationPhase = !sagaId ? 'confirm' : done ? 'done' : 'running';
  useEffect(() => {
    if (phase === 'running') progressRef.current?.focus();
    if (phase === 'done') {
      closeRef.current?.focus();
      void refresh();
    }
  }, [phase, refresh]);
  const close = useCallback(() => {
    onClose();
    void refresh();
  }, [onClose, refresh]);
  return { phase, progressRef, closeRef, close };
}
