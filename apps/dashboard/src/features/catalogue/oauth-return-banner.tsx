import { useEffect, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { useCurrentUser } from '../../session/current-user-context';
import { useTRPC } from '../../trpc/trpc-context';
import { ErrorAlert } from '../../ui/error-alert';
import {
  isOAuthSuccess,
  oauthReturnText,
  parseSiteChoice,
  siteAdvice,
  SITE_REASONS,
  type TOAuthReturn,
} from './oauth-return-text';
import { useStartOAuth } from './use-start-oauth';

// `sites` is no longer sent (the list stays on the edge) but is still cleared: a crafted one is never shown.
const RETURN_PARAMS = ['oauth', 'vendor', 'reason', 'action', 'flow', 'siteChoice', 'sites'];

function readOAuthReturn(search: string): TOAuthReturn | null {
  const params = new URLSearchParams(search);
  const outcome = params.get('oauth');
  const vendor = params.get('vendor');
  if (!vendor || !outcome) return null;
  const flow = params.get('flow');
  return {
    outcome,
    vendor,
    reason: params.get('reason'),
    action: params.get('action'),
    flow: flow === 'app' || flow === 'user' ? flow : null,
    siteChoice: parseSiteChoice(params.get('siteChoice')),
  };
}

/** The edge sends the browser back with `?oauth=connected|failed|denied&vendor=…&reason=…` after a provider. */
export function OAuthReturnBanner() {
  const trpc = useTRPC();
  const me = useCurrentUser();
  const [result, setResult] = useState(() => readOAuthReturn(window.location.search));
  const catalogue = useQuery(trpc.catalogue.list.queryOptions(undefined, { enabled: !!result }));

  useEffect(() => {
    // A reload must not announce the same result again.
    if (!window.location.search) return;
    const url = new URL(window.location.href);
    for (const k of RETURN_PARAMS) url.searchParams.delete(k);
    window.history.replaceState(null, '', url.pathname + url.search + url.hash);
  }, []);

  // Wait for the provider's display name rather than flash its key.
  if (!result || catalogue.isPending) return null;
  const name = catalogue.data?.find((p) => p.key === result.vendor)?.displayName ?? result.vendor;
  const ok = isOAuthSuccess(result);
  const text = oauthReturnText(name, result);
  const advice = siteAdvice(result, me.canEdit);
  const siteChoice =
    me.canEdit && result.reason && SITE_REASONS.has(result.reason) ? result.siteChoice : null;
  return (
    <div
      className={`banner ${ok ? 'banner-success' : 'banner-error'}`}
      role={ok ? 'status' : 'alert'}
      data-testid="oauth-result"
    >
      <div className="banner-body">
        <span>{text}</span>
        {advice && <span className="banner-advice">{advice}</span>}
        {siteChoice && <SitePicker id={siteChoice} />}
      </div>
      <button type="button" className="button button-quiet" onClick={() => setResult(null)}>
        Dismiss
      </button>
    </div>
  );
}

/**
 * An admin chooses the org's site among those the account reaches: stored on the instance, then the connect
 * starts again (the provider usually answers at once: the user already consented). The sites, the provider and the
 * flow are the edge's record of the refused connect (`integrations.siteChoice`), never the URL's.
 */
function SitePicker({ id }: { id: string }) {
  const trpc = useTRPC();
  const choice = useQuery(trpc.integrations.siteChoice.queryOptions({ id }, { retry: false }));
  const choose = useStartOAuth();
  if (choice.isPending) return null;
  if (!choice.data) {
    return (
      <span className="banner-advice">
        The list of sites is no longer available: connect again to choose one.
      </span>
    );
  }
  const { vendor, flow, sites } = choice.data;
  if (sites.length === 0) return null;
  return (
    <div className="site-picker" role="group" aria-label="Sites this account reaches">
      {sites.map((s) => (
        <button
          key={s.id}
          type="button"
          className="button button-secondary"
          disabled={choose.isPending}
          onClick={() => choose.mutate({ vendor, flow, site: s.id })}
        >
          Use {s.name}
        </button>
      ))}
      {choose.error && <ErrorAlert error={choose.error} title="The site could not be chosen" />}
    </div>
  );
}
