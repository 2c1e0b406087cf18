import { createTRPCContext } from '@trpc/tanstack-react-query';
import type { AppRouter } from '@otesse/edge-api';

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();
