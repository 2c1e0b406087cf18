import { useMutation } from '@tanstack/react-query';
import type { TRouterInputs } from '../../trpc/router-types';
import { useTRPCClient } from '../../trpc/trpc-context';

export type TStartOAuthInput = TRouterInputs['integrations']['oauthUrl'] & {
  /** Stored first (ServiceNow, Zendesk) when it changed: the edge only ever reads it from there. */
  subdomain?: string | undefined;
};

/**
 * Connect, Reconnect and Change User all end the same way: the edge hands out a one-time start URL and the
 * browser goes there (edge → provider → edge callback → back here with `?oauth=…`).
 */
export function useStartOAuth() {
  const client = useTRPCClient();
  return useMutation({
    mutationFn: async ({ subdomain, ...input }: TStartOAuthInput) => {
      if (subdomain !== undefined) {
        await client.integrations.configureInstance.mutate({ vendor: input.vendor, subdomain });
      }
      const { url } = await client.integrations.oauthUrl.query(input);
      window.location.assign(url);
      return url;
    },
  });
}
