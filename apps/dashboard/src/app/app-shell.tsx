import { SignInPage } from '../features/sign-in/sign-in-page';
import { useSession } from '../session/session-context';
import { SignedInApp } from './signed-in-app';

export function AppShell() {
  const { token } = useSession();
  return token ? <SignedInApp /> : <SignInPage />;
}
