import type { TConnectionView, TProvider } from '../../trpc/router-types';
import { ErrorAlert } from '../../ui/error-alert';
import { useStartOAuth } from '../catalogue/use-start-oauth';

/**
 * What Change user needs of the person before they leave: most providers sign in whoever their browser session
 * already holds, so a person still signed in there as the connected account gets that account back and nothing
 * switches. A provider that asks which account to use (`asksAccount`: the edge sends it its account chooser) needs
 * only the right choice.
 */
export function changeUserHint(
  providerName: string,
  currentAccount: string | null,
  asksAccount = false,
): string {
  const current = currentAccount ?? 'the connected user';
  if (asksAccount)
    return `Change user sends you to ${providerName}, which will ask which account to use: choose another user of your organization there, not ${current}.`;
  return `Change user sends you to ${providerName} to sign in as another user of your organization there. If you are still signed in there as ${current}, sign out first or use a private window: otherwise the same account signs in again.`;
}

/** Seed 003: switch the connected account (same tenant) without disconnecting the integration. */
export function ChangeUserButton({
  provider,
  connection,
  hintId,
}: {
  provider: TProvider;
  connection: TConnectionView;
  /** The hint shown beside the button (`ChangeUserHint`), read out with it. */
  hintId: string;
}) {
  const start = useStartOAuth();
  return (
    <>
      <button
        type="button"
        className="button"
        disabled={start.isPending}
        aria-describedby={hintId}
        onClick={() =>
          start.mutate({ vendor: provider.key, flow: connection.level, action: 'changeUser' })
        }
      >
        {start.isPending ? 'Redirecting…' : 'Change user'}
        <span className="visually-hidden"> for {provider.displayName}</span>
      </button>
      {start.isError && <ErrorAlert error={start.error} title="Could not change the user" />}
    </>
  );
}

/** Below the card's buttons (a row): the hint the Change user button is described by. */
export function ChangeUserHint({
  id,
  provider,
  connection,
}: {
  id: string;
  provider: TProvider;
  connection: TConnectionView;
}) {
  return (
    <p id={id} className="muted small" data-testid="change-user-hint">
      {changeUserHint(
        provider.displayName,
        connection.accountLabel ?? connection.externalAccountId,
        provider.changeUserAsksAccount,
      )}
    </p>
  );
}
