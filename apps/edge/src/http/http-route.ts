import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TEdgeDeps } from '../trpc/context';

/** A plain HTTP route of the edge (streaming exports, REST): returns false when the request is not its own. */
export type THttpRoute = (
  req: IncomingMessage,
  res: ServerResponse,
  deps: TEdgeDeps,
) => Promise<boolean>;
