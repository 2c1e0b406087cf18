import { useId, useState, type FormEvent } from 'react';
import { useSession } from '../../session/session-context';
import { clearToken, writeToken } from '../../session/token-storage';
import { errorMessage, trpcCode } from '../../trpc/query-client';
import { useTRPCClient } from '../../trpc/trpc-context';

export function SignInPage() {
  const client = useTRPCClient();
  const { signIn, signOutMessage } = useSession();
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const inputId = useId();
  const hintId = useId();
  const errorId = useId();

  const onSubmit = async (e: FormEvent<HTMLFormElement>): Promise<void> => {
    e.preventDefault();
    const value = token.trim();
    if (!value) {
      setError('Enter your API token.');
      return;
    }
    setBusy(true);
    setError(null);
    // The token is checked with `me.get` before the app trusts it.
    writeToken(value);
    try {
      await client.me.get.query();
      signIn(value);
    } catch (err) {
      clearToken();
      setError(
        trpcCode(err) === 'UNAUTHORIZED'
          ? 'That token was not accepted. Check it and try again.'
          : errorMessage(err),
      );
      setBusy(false);
    }
  };

  return (
    <main className="sign-in" aria-labelledby="sign-in-title">
      <form className="sign-in-card" onSubmit={(e) => void onSubmit(e)} noValidate>
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden="true">
            O
          </span>
          Otesse Integrations
        </div>
        <h1 id="sign-in-title">Sign in</h1>
        {signOutMessage && (
          <p className="alert alert-info" role="status">
            {signOutMessage}
          </p>
        )}
        <div className="field">
          <label htmlFor={inputId}>API token</label>
          <input
            id={inputId}
            name="token"
            type="password"
            autoComplete="off"
            spellCheck={false}
            value={token}
            onChange={(e) => setToken(e.target.value)}
            aria-describedby={error ? `${hintId} ${errorId}` : hintId}
            aria-invalid={error ? true : undefined}
            autoFocus
          />
          <p id={hintId} className="field-hint">
            Your personal API token. <code>npm start</code> prints one for each demo user.
          </p>
          {error && (
            <p id={errorId} className="field-error" role="alert">
              {error}
            </p>
          )}
        </div>
        <button type="submit" className="button button-primary button-block" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
