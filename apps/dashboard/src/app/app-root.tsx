import { StrictMode, useState } from 'react';
import { QueryClientProvider } from '@tanstack/react-query';
import { SessionProvider } from '../session/session-provider';
import { createQueryClient } from '../trpc/query-client';
import { createEdgeClient } from '../trpc/trpc-client';
import { TRPCProvider } from '../trpc/trpc-context';
import { AppShell } from './app-shell';

export function AppRoot() {
  const [queryClient] = useState(createQueryClient);
  const [trpcClient] = useState(createEdgeClient);
  return (
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
          <SessionProvider>
            <AppShell />
          </SessionProvider>
        </TRPCProvider>
      </QueryClientProvider>
    </StrictMode>
  );
}
