import type { TConnectionView } from '../../trpc/router-types';
import { useOpenDisconnectDialog } from './disconnect-dialog-context';

export function DisconnectButton({
  connection,
  providerName,
  variant = 'default',
}: {
  connection: TConnectionView;
  providerName: string;
  variant?: 'default' | 'mine';
}) {
  const open = useOpenDisconnectDialog();
  return (
    <button
      type="button"
      className="button button-danger-outline"
      aria-haspopup="dialog"
      onClick={() => open({ connectionId: connection.id, providerName })}
    >
      {variant === 'mine' ? 'Disconnect my account' : 'Disconnect'}
      <span className="visually-hidden"> {providerName}</span>
    </button>
  );
}
