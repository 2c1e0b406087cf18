import { useCurrentUser } from '../session/current-user-context';
import { useSession } from '../session/session-context';
import { StoppedOperationsBadge } from '../features/operations/stopped-operations-badge';
import { ROUTES, type TRouteId } from './app-routes';

export function AppHeader({ route }: { route: TRouteId }) {
  const me = useCurrentUser();
  const { signOut } = useSession();
  return (
    <header className="app-header">
      <div className="app-header-inner">
        <a className="brand" href="#/integrations">
          <span className="brand-mark" aria-hidden="true">
            O
          </span>
          Otesse Integrations
        </a>
        <nav aria-label="Main">
          <ul className="nav-list">
            {ROUTES.filter((r) => r.id !== 'audit' || me.canViewAudit).map((r) => (
              <li key={r.id}>
                <a
                  className="nav-link"
                  href={`#/${r.id}`}
                  aria-current={r.id === route ? 'page' : undefined}
                >
                  {r.label}
                  {r.id === 'operations' && <StoppedOperationsBadge />}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div className="user-menu">
          <span className="user-identity" data-testid="current-user">
            <span className="user-name">{me.name}</span>
            <span className="user-email">{me.email}</span>
          </span>
          <button type="button" className="button button-quiet" onClick={() => signOut()}>
            Sign out
          </button>
        </div>
      </div>
    </header>
  );
}
