import { useEffect, useState } from 'react';
import { routeFromHash, type TRouteId } from './app-routes';

/** The current screen from `#/<route>`: links work, Back works, and a reload stays on the same screen. */
export function useHashRoute(): TRouteId {
  const [route, setRoute] = useState<TRouteId>(() => routeFromHash(window.location.hash));
  useEffect(() => {
    const onChange = (): void => setRoute(routeFromHash(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
