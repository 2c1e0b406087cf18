import { useCallback } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { useTRPC } from './trpc-context';

/** After a connect, disconnect or reconnect: everything that shows integration state is fetched again. */
export function useRefreshIntegrationData(): () => Promise<void> {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  return useCallback(async () => {
    await Promise.all(
      [
        trpc.integrations.pathKey(),
        trpc.emailBuilder.pathKey(),
        trpc.audit.pathKey(),
        trpc.sync.pathKey(),
        trpc.operations.pathKey(),
      ].map((queryKey) => queryClient.invalidateQueries({ queryKey })),
    );
  }, [trpc, queryClient]);
}
