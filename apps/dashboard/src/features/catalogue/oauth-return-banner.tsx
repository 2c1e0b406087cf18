import { useEffect, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '../../trpc/trpc-context';
import { isOAuthSuccess, oauthReturnText, type TOAuthReturn } from './oauth-return-text';

function readOAuthReturn(search: string): TOAuthReturn | null {
  const params = new URLSearchParams(search);
  const outcome = params.get('oauth');
  const vendor = params.get('vendor');
  if (!vendor || !outcome) return null;
  return { outcome, vendor, reason: params.get('reason'), action: params.get('action') };
}

/** The edge sends the browser back with `?oauth=connected|failed|denied&vendor=…&reason=…` after a provider. */
export function OAuthReturnBanner() {
  const trpc = useTRPC();
  const [result, setResult] = useState(() => readOAuthReturn(window.location.search));
  const catalogue = useQuery(trpc.catalogue.list.queryOptions(undefined, { enabled: !!result }));

  useEffect(() => {
    // A reload must not announce the same result again.
    if (!window.location.search) return;
    const url = new URL(window.location.href);
    for (const k of ['oauth', 'vendor', 'reason', 'action']) url.searchParams.delete(k);
    window.history.replaceState(null, '', url.pathname + url.search + url.hash);
  }, []);

  // Wait for the provider's display name rather than flash its key.
  if (!result || catalogue.isPending) return null;
  const name = catalogue.data?.find((p) => p.key === result.vendor)?.displayName ?? result.vendor;
  const ok = isOAuthSuccess(result);
  const text = oauthReturnText(name, result);
  return (
    <div
      className={`banner ${ok ? 'banner-success' : 'banner-error'}`}
      role={ok ? 'status' : 'alert'}
      data-testid="oauth-result"
    >
      <span>{text}</span>
      <button type="button" className="button button-quiet" onClick={() => setResult(null)}>
        Dismiss
      </button>
    </div>
  );
}
