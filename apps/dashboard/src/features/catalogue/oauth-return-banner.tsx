import { useEffect, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { useCurrentUser } from '../../session/current-user-context';
import { trpcCode } from '../../trpc/query-client';
import { useTRPC } from '../../trpc/trpc-context';
import { ErrorAlert } from '../../ui/error-alert';
import {
  isOAuthSuccess,
  isSameAccountChange,
  needsAccountName,
  oauthReturnText,
  parseSameAccount,
  parseSiteChoice,
  siteAdvice,
  SITE_REASONS,
  type TOAuthReturn,
} from './oauth-return-text';
import { useStartOAuth } from './use-start-oauth';

// `sites` is no longer sent (the list stays on the edge) but is still cleared: a crafted one is never shown.
const RETURN_PARAMS = [
  'oauth',
  'vendor',
  'reason',
  'action',
  'flow',
  'siteChoice',
  'sameAccount',
  'sites',
];

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
    sameAccount: parseSameAccount(params.get('sameAccount')),
  };
}

/** The edge sends the browser back with `?oauth=connected|failed|denied&vendor=…&reason=…` after a provider. */
export function OAuthReturnBanner() {
  const trpc = useTRPC();
  const me = useCurrentUser();
  const [result, setResult] = useState(() => readOAuthReturn(window.location.search));
  const catalogue = useQuery(trpc.catalogue.list.queryOptions(undefined, { enabled: !!result }));
  // A change of user names the account now connected: the dashboard's own list, never the URL, says which.
  const named = !!result && needsAccountName(result);
  const integrations = useQuery(trpc.integrations.list.queryOptions(undefined, { enabled: named }));

  useEffect(() => {
    // A reload must not announce the same result again.
    if (!window.location.search) return;
    const url = new URL(window.location.href);
    for (const k of RETURN_PARAMS) url.searchParams.delete(k);
    window.history.replaceState(null, '', url.pathname + url.search + url.hash);
  }, []);

  // Wait for the provider's display name (and the account) rather than flash its key; a failed read words it without.
  if (!result || catalogue.isPending || (named && integrations.isPending)) return null;
  const name = catalogue.data?.find((p) => p.key === result.vendor)?.displayName ?? result.vendor;
  const ok = isOAuthSuccess(result);
  const entry = integrations.data?.find((i) => i.provider.key === result.vendor);
  const connection = result.flow === 'app' ? entry?.appConnection : entry?.myConnection;
  const text = oauthReturnText(name, {
    ...result,
    account: connection?.accountLabel ?? connection?.externalAccountId ?? null,
  });
  // Went through, but switched nobody: a notice to act on, neither a success nor an error.
  const tone = isSameAccountChange(result) ? 'notice' : ok ? 'success' : 'error';
  const advice = siteAdvice(result, me.canEdit);
  const siteChoice =
    me.canEdit && result.reason && SITE_REASONS.has(result.reason) ? result.siteChoice : null;
  return (
    <div
      className={`banner banner-${tone}`}
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
 * Answers about the record that asking again will not change: NOT_FOUND (`site_choice_not_found`: expired, used, or
 * not this user's) and the other refusals. Anything else — the edge or its database briefly away (503), a timeout,
 * the network — is a glitch worth retrying.
 */
const SITE_CHOICE_ANSWERS = new Set([
  'NOT_FOUND',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'BAD_REQUEST',
  'CONFLICT',
  'PRECONDITION_FAILED',
]);

/** React Query's `retry` for `integrations.siteChoice`: glitches up to 3 times (after 1, 2 and 4 s), answers never. */
export function retrySiteChoice(failureCount: number, error: unknown): boolean {
  return !SITE_CHOICE_ANSWERS.has(trpcCode(error) ?? '') && failureCount < 3;
}

/**
 * What the picker shows for the query's state: nothing while it loads (retries included), the sites once read,
 * "no longer available" only when the edge said NOT_FOUND, and otherwise that the list could not be read now (with
 * a way to try again): the record may well still be there.
 */
export function siteChoiceView(
  status: 'pending' | 'error' | 'success',
  error: unknown,
): 'loading' | 'ready' | 'expired' | 'unavailable' {
  if (status === 'pending') return 'loading';
  if (status === 'success') return 'ready';
  return trpcCode(error) === 'NOT_FOUND' ? 'expired' : 'unavailable';
}

/**
 * An admin chooses the org's site among those the account reaches: stored on the instance, then the connect
 * starts again (the provider usually answers at once: the user already consented). The sites, the provider and the
 * flow are the edge's record of the refused connect (`integrations.siteChoice`), never the URL's.
 */
function SitePicker({ id }: { id: string }) {
  const trpc = useTRPC();
  const choice = useQuery(
    trpc.integrations.siteChoice.queryOptions({ id }, { retry: retrySiteChoice }),
  );
  const choose = useStartOAuth();
  const view = siteChoiceView(choice.status, choice.error);
  if (view === 'loading') return null;
  if (view === 'expired') {
    return (
      <span className="banner-advice">
        The list of sites is no longer available: connect again to choose one.
      </span>
    );
  }
  if (view === 'unavailable' || !choice.data) {
    return (
      <span className="banner-advice">
        The list of sites could not be loaded right now.{' '}
        <button
          type="button"
          className="button button-quiet"
          disabled={choice.isFetching}
          onClick={() => void choice.refetch()}
        >
          Try again
        </button>
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
