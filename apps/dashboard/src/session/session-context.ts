import { createContext, useContext } from 'react';

export interface TSession {
  token: string | null;
  signIn(token: string): void;
  signOut(message?: string): void;
  /** Why the last session ended, shown on the sign-in screen. */
  signOutMessage: string | null;
}

export const SessionContext = createContext<TSession | null>(null);

export function useSession(): TSession {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession needs a <SessionProvider>');
  return session;
}
