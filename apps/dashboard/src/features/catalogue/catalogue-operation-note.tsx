import { useCurrentUser } from '../../session/current-user-context';
import type { TIntegration } from '../../trpc/router-types';
import { useOpenDisconnectDialog } from '../disconnect/disconnect-dialog-context';
import { operationNoteText, ownOperations } from './integration-status';

/**
 * A catalogue card's line about an operation open on the organization's or the signed-in user's connection: a
 * disconnect in progress can be followed ("Show progress"), one that stopped is resumed from the Connections page.
 * While it is open, the card offers no Connect, Disconnect, Reconnect or Change user for that connection.
 */
export function CatalogueOperationNote({ integration }: { integration: TIntegration }) {
  const me = useCurrentUser();
  const open = useOpenDisconnectDialog();
  const providerName = integration.provider.displayName;
  const ops = ownOperations(integration, me.userId);
  if (ops.length === 0) return null;
  return (
    <>
      {ops.map(({ connection, operation }) => (
        <div
          key={connection.id}
          className={`alert alert-compact ${operation.needsResume ? 'alert-error' : 'alert-info'}`}
          data-testid="catalogue-operation"
        >
          <span role="status">{operationNoteText(operation, connection.level)}</span>
          <div className="button-row">
            {operation.type === 'disconnect' && (
              <button
                type="button"
                className="button button-small"
                aria-haspopup="dialog"
                onClick={() =>
                  open({ connectionId: connection.id, providerName, sagaId: operation.sagaId })
                }
              >
                {operation.needsResume ? 'Show steps' : 'Show progress'}
                <span className="visually-hidden"> of the {providerName} disconnect</span>
              </button>
            )}
            {operation.needsResume && (
              <a className="button button-small" href="#/connections">
                Resume on the Connections page
                <span className="visually-hidden"> ({providerName})</span>
              </a>
            )}
          </div>
        </div>
      ))}
    </>
  );
}
