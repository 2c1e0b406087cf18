import { useMutation } from '@tanstack/react-query';
import type { TRouterInputs } from '../../trpc/router-types';
import { useTRPCClient } from '../../trpc/trpc-context';
import { rememberOAuthReturnRoute } from '../../app/oauth-return-route';
import { useRefreshIntegrationData } from '../../trpc/use-refresh-integration-data';

export type TStartOAuthInput = TRouterInputs['integrations']['oauthUrl'] & {
  /** Stored first (ServiceNow, Zendesk) when it changed: the edge only ever reads it from there. */
  subdomain?: string | undefined;
  /** The org's site, stored first (Atlassian: an admin's choice among the sites a connect brought back). */
  site?: string | undefined;
};

/**
 * Posts the start link from this page, a top-level form submission: the edge starts it at once for the dashboard's
 * origin (opened any other way, the link first asks the person to confirm whose connection it is).
 */
function postStartLink(url: string): void {
  const form = document.createElement('form');
  form.method = 'post';
  form.action = url;
  form.hidden = true;
  document.body.append(form);
  form.submit();
}

/**
 * Connect, Reconnect and Change User all end the same way: the edge hands out a one-time start link and the
 * browser posts it (edge → provider → edge callback → back here with `?oauth=…`).
 */
export function useStartOAuth() {
  const client = useTRPCClient();
  const refresh = useRefreshIntegrationData();
  return useMutation({
    // Refused (say, a disconnect started meanwhile, or the connection was already reconnected): the card shows
    // what is true now instead of the buttons that led here.
    onError: () => void refresh(),
    mutationFn: async ({ subdomain, site, ...input }: TStartOAuthInput) => {
      if (subdomain !== undefined) {
        await client.integrations.configureInstance.mutate({ vendor: input.vendor, subdomain });
      }
      if (site !== undefined) {
        await client.integrations.configureInstance.mutate({ vendor: input.vendor, site });
      }
      const { url } = await client.integrations.oauthUrl.query(input);
      // The edge sends the browser back to the dashboard's root: come back to this screen.
      rememberOAuthReturnRoute();
      postStartLink(url);
      return url;
    },
  });
}
