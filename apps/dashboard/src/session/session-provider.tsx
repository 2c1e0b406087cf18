import { useCallback, useMemo, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { clearToken, readToken, writeToken } from './token-storage';
import { SessionContext, type TSession } from './session-context';

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

  const value = useMemo<TSession>(
    () => ({ token, signIn, signOut, signOutMessage }),
    [token, signIn, signOut, signOutMessage],
  );
  return <SessionContext value={value}>{children}</SessionContext>;
}
