import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '@otesse/logging';

/** What one code exchange with a provider's token endpoint may take: its whole time and the bytes it receives. */
export interface TTokenExchangeBounds {
  /** From the connection's start to the answer's last byte. */
  deadlineMs: number;
  /** Bytes received on the connection (the answer's head and body as sent; a compressed answer is refused). */
  maxResponseBytes: number;
}

/**
 * A token answer is a few kilobytes (Microsoft's, with an id_token, about ten). The cap bounds what the edge holds
 * of an answer: it is never decoded to something larger, as an answer with a content coding is refused unread.
 */
export const TOKEN_EXCHANGE_MAX_RESPONSE_BYTES = 64 * 1024;

/** Why a token exchange was cut short. */
export type TTokenExchangeCut = 'deadline' | 'response_too_large' | 'compressed_response';

const CUT_MESSAGES: Record<TTokenExchangeCut, string> = {
  deadline: 'the token endpoint did not answer in time',
  response_too_large: 'the token endpoint answered more than a token response weighs',
  compressed_response: 'the token endpoint answered compressed, which was not asked for',
};

export class TokenExchangeCutError extends Error {
  constructor(readonly cut: TTokenExchangeCut) {
    super(CUT_MESSAGES[cut]);
    this.name = 'TokenExchangeCutError';
  }
}

interface TConnectOptions extends net.TcpNetConnectOpts {
  protocol?: string;
  servername?: string;
}

/** The end of a head; bare LF too, in case a lenient parser (--insecure-http-parser) takes it. */
const HEAD_END = /\r?\n\r?\n/g;
const INFORMATIONAL_STATUS_LINE = /^HTTP\/\d(?:\.\d)? +1\d\d(?!\d)/;
const CONTENT_ENCODING_FIELD = /^content-encoding[ \t]*:(.*)$/i;

/** Whether a head (status line and fields, without the blank line) declares a content coding other than identity. */
function declaresContentCoding(head: string): boolean {
  // Folded lines joined first, as a lenient parser would join them.
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const value = CONTENT_ENCODING_FIELD.exec(line)?.[1];
    if (value === undefined) continue;
    for (const coding of value.split(',')) {
      const name = coding.trim().toLowerCase();
      if (name !== '' && name !== 'identity') return true;
    }
  }
  return false;
}

/**
 * Reads an answer's raw bytes up to the end of its final head (skipping 1xx heads, which precede it on the same
 * connection) and says, once that head has ended, whether it declares a content coding. Only head bytes are kept
 * (no more than the byte cap), each scanned once for the head's end; after the head nothing is inspected.
 */
function contentCodingWatch(): (chunk: Buffer) => boolean {
  let head = '';
  let scanFrom = 0;
  let ended = false;
  return (chunk) => {
    if (ended) return false;
    head += chunk.toString('latin1');
    for (;;) {
      // Back up three characters: the head's end may straddle two chunks.
      HEAD_END.lastIndex = Math.max(0, scanFrom - 3);
      const end = HEAD_END.exec(head);
      if (!end) {
        scanFrom = head.length;
        return false;
      }
      const current = head.slice(0, end.index);
      head = head.slice(end.index + end[0].length);
      scanFrom = 0;
      if (!INFORMATIONAL_STATUS_LINE.test(current)) {
        ended = true;
        head = '';
        return declaresContentCoding(current);
      }
    }
  };
}

/**
 * grant's `request` options for its code exchange (request-compose, which grant calls with them). request-compose
 * bounds only a socket's idle time (5 s), so an endpoint that sends a byte every few seconds, or a body without
 * end, held the browser's callback and the edge's memory for as long as it liked. Here each exchange gets its own
 * connection (no agent: request-compose passes `createConnection` through to `http(s).request`), which is destroyed
 * once the deadline passes or the bytes received pass the cap; the request then fails and the callback answers
 * `token_exchange_failed`. TLS is set up here for https, as `https.Agent` would (SNI by host name).
 *
 * request-compose inflates a gzip or deflate answer with no limit on the output (64 KB could become 64 MB), and
 * grant gives no way to change its pipeline. So the exchange asks for `identity` (grant passes `headers` through
 * to the token request) and an answer whose head declares another coding anyway is cut before it is parsed: a
 * token answer is a few kilobytes, nobody needs it compressed.
 *
 * Bytes are checked where they enter the socket's stream (`push`), not in a 'data' listener: a listener runs beside
 * the HTTP parser's, which would still parse the chunk that crossed a bound, and an answer complete in that chunk
 * (a small gzip body, or one a little past the cap) would be read whole despite the cut.
 */
export function boundedTokenExchange(
  bounds: TTokenExchangeBounds,
  logger: Pick<Logger, 'warn'>,
): {
  timeout: number;
  headers: Record<string, string>;
  createConnection: (options: TConnectOptions) => net.Socket;
} {
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
    const declaresContentCoding = contentCodingWatch();
    let received = 0;
    /** Whether a chunk may reach the socket's readers; cuts the exchange when it may not. */
    const admit = (chunk: Buffer): boolean => {
      if (socket.destroyed) return false;
      received += chunk.byteLength;
      if (received > bounds.maxResponseBytes) cut('response_too_large');
      else if (declaresContentCoding(chunk)) cut('compressed_response');
      return !socket.destroyed;
    };
    const push = socket.push.bind(socket);
    socket.push = (chunk: unknown, encoding?: BufferEncoding): boolean =>
      !Buffer.isBuffer(chunk) || admit(chunk) ? push(chunk, encoding) : false;
    socket.once('close', () => clearTimeout(timer));
    return socket;
  };
  return {
    // request-compose's idle timeout, no longer than the deadline (its default is 5 s).
    timeout: Math.min(bounds.deadlineMs, 5_000),
    headers: { 'accept-encoding': 'identity' },
    createConnection,
  };
}
