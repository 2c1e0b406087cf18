import type { TConnectionView } from '../../trpc/router-types';
import { useOpenDisconnectDialog } from './disconnect-dialog-context';

export function DisconnectButton({
  connection,
  providerName,
  variant = 'default',
  ownerName,
}: {
  connection: TConnectionView;
  providerName: string;
  variant?: 'default' | 'mine';
  /** Another member's connection (an admin's button): named after its owner, so each button says whose it is. */
  ownerName?: string;
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
      <span className="visually-hidden">
        {' '}
        {providerName}
        {ownerName ? ` for ${ownerName}` : ''}
      </span>
    </button>
  );
}
