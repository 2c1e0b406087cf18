import { useCallback, useEffect, useMemo, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { trpcCode } from '../trpc/query-client';
import { clearToken, readToken, writeToken } from './token-storage';
import { SessionContext, type TSession } from './session-context';

/** What the sign-in page says after a token stopped being accepted. */
export const TOKEN_REFUSED = 'Your token was not accepted (expired or revoked). Sign in again.';

export function SessionProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [token, setToken] = useState<string | null>(() => readToken());
  const [signOutMessage, setSignOutMessage] = useState<string | null>(null);

  const signIn = useCallback(
    (next: string) => {
      writeToken(next);
      // Nothing cached for a previous user may show for the next one.
      queryClient.clear();
      setSignOutMessage(null);
      setToken(next);
    },
    [queryClient],
  );
  const signOut = useCallback(
    (message?: string) => {
      clearToken();
      queryClient.clear();
      setSignOutMessage(message ?? null);
      setToken(null);
    },
    [queryClient],
  );

  // A token revoked or expired while signed in: the first call it fails, whichever screen made it, signs out (the
  // panels would otherwise each show the refusal and keep polling, spending the address's budget of failures).
  useEffect(() => {
    if (!token) return;
    const onError = (error: unknown) => {
      if (trpcCode(error) === 'UNAUTHORIZED')
        // After the cache has told its listeners: signing out clears it.
        setTimeout(() => signOut(TOKEN_REFUSED));
    };
    // Only calls of this session count: a call made with the previous token may answer after the next sign-in,
    // but its query (or mutation) was dropped from the cache by that sign-in.
    const queryCache = queryClient.getQueryCache();
    const mutationCache = queryClient.getMutationCache();
    const queries = queryCache.subscribe((e) => {
      if (
        e.type === 'updated' &&
        e.action.type === 'error' &&
        queryCache.get(e.query.queryHash) === e.query
      )
        onError(e.action.error);
    });
    const mutations = mutationCache.subscribe((e) => {
      if (
        e.type === 'updated' &&
        e.action.type === 'error' &&
        mutationCache.getAll().includes(e.mutation)
      )
        onError(e.action.error);
    });
    return () => {
      queries();
      mutations();
    };
  }, [token, queryClient, signOut]);

  const value = useMemo<TSession>(
    () => ({ token, signIn, signOut, signOutMessage }),
    [token, signIn, signOut, signOutMessage],
  );
  return <SessionContext value={value}>{children}</SessionContext>;
}
