import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '@otesse/logging';

/** What one code exchange with a provider's token endpoint may take: its whole time and the bytes it receives. */
export interface TTokenExchangeBounds {
  /** From the connection's start to the answer's last byte. */
  deadlineMs: number;
  /** Bytes received on the connection (the answer's head and body as sent, before any decompression). */
  maxResponseBytes: number;
}

/**
 * A token answer is a few kilobytes (Microsoft's, with an id_token, about ten). The cap also bounds what a
 * compressed answer can grow to when it is decoded: deflate expands at most about a thousandfold, so 64 MB.
 */
export const TOKEN_EXCHANGE_MAX_RESPONSE_BYTES = 64 * 1024;

/** Why a token exchange was cut short. */
export type TTokenExchangeCut = 'deadline' | 'response_too_large';

export class TokenExchangeCutError extends Error {
  constructor(readonly cut: TTokenExchangeCut) {
    super(
      cut === 'deadline'
        ? 'the token endpoint did not answer in time'
        : 'the token endpoint answered more than a token response weighs',
    );
    this.name = 'TokenExchangeCutError';
  }
}

interface TConnectOptions extends net.TcpNetConnectOpts {
  protocol?: string;
  servername?: string;
}

/**
 * grant's `request` options for its code exchange (request-compose, which grant calls with them). request-compose
 * bounds only a socket's idle time (5 s), so an endpoint that sends a byte every few seconds, or a body without
 * end, held the browser's callback and the edge's memory for as long as it liked. Here each exchange gets its own
 * connection (no agent: request-compose passes `createConnection` through to `http(s).request`), which is destroyed
 * once the deadline passes or the bytes received pass the cap; the request then fails and the callback answers
 * `token_exchange_failed`. TLS is set up here for https, as `https.Agent` would (SNI by host name).
 */
export function boundedTokenExchange(
  bounds: TTokenExchangeBounds,
  logger: Pick<Logger, 'warn'>,
): { timeout: number; createConnection: (options: TConnectOptions) => net.Socket } {
  const createConnection = (options: TConnectOptions): net.Socket => {
    const host = options.host ?? 'localhost';
    const socket =
      options.protocol === 'https:'
        ? tls.connect({
            ...(options as tls.ConnectionOptions),
            ...(options.servername || net.isIP(host) ? {} : { servername: host }),
          })
        : net.connect(options);
    const cut = (reason: TTokenExchangeCut) => {
      if (socket.destroyed) return;
      logger.warn(
        { reason: 'token_exchange_cut', cut: reason, host, bounds },
        'token exchange cut short',
      );
      socket.destroy(new TokenExchangeCutError(reason));
    };
    const timer = setTimeout(() => cut('deadline'), bounds.deadlineMs);
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.byteLength;
      if (received > bounds.maxResponseBytes) cut('response_too_large');
    });
    socket.once('close', () => clearTimeout(timer));
    return socket;
  };
  // request-compose's idle timeout, no longer than the deadline (its default is 5 s).
  return { timeout: Math.min(bounds.deadlineMs, 5_000), createConnection };
}
