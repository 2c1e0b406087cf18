import { useState, type ReactNode } from 'react';
import { DisconnectDialog } from './disconnect-dialog';
import { DisconnectDialogContext, type TDisconnectTarget } from './disconnect-dialog-context';

export function DisconnectDialogHost({ children }: { children: ReactNode }) {
  const [target, setTarget] = useState<TDisconnectTarget | null>(null);
  return (
    <DisconnectDialogContext value={setTarget}>
      {children}
      {target && (
        <DisconnectDialog
          key={`${target.connectionId}:${target.sagaId ?? ''}`}
          connectionId={target.connectionId}
          providerName={target.providerName}
          {...(target.sagaId ? { sagaId: target.sagaId } : {})}
          onClose={() => setTarget(null)}
        />
      )}
    </DisconnectDialogContext>
  );
}
