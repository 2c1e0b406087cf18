/**
 * Outbound HTTP to a provider host. Those hosts are partly chosen by an org admin (a ServiceNow or Zendesk
 * subdomain), and the services calling them are shared by every tenant: a redirect is never followed (it could
 * point at a metadata or internal address), and a body is read only up to a cap (a huge answer would exhaust the
 * memory of the service).
 */

/** What a provider answer may weigh unless the caller says otherwise: tokens, identities, errors are tiny. */
export const PROVIDER_MAX_BODY_BYTES = 5 * 1024 * 1024;

/** Why a provider's answer was refused before the caller saw it. */
export type TProviderHttpFault = 'redirect' | 'body_too_large';

/** A provider answer refused by these helpers; the message names no URL (it may be an internal address). */
export class ProviderHttpError extends Error {
  constructor(
    readonly reason: TProviderHttpFault,
    /** The provider's HTTP status. */
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ProviderHttpError';
  }
}

/** A body being read: its chunks, its declared length, and how to stop it (which aborts the transfer). */
export interface TBodySource {
  chunks: AsyncIterable<Uint8Array>;
  contentLength: string | readonly string[] | null | undefined;
  cancel: () => unknown;
}

/**
 * The whole body, refused (and the transfer stopped) once it is over `maxBytes`: at once when its Content-Length
 * says so, else as soon as the bytes received pass it. Never buffers more than `maxBytes` plus one chunk.
 */
export async function readCappedBody(
  source: TBodySource,
  status: number,
  maxBytes: number = PROVIDER_MAX_BODY_BYTES,
): Promise<Buffer> {
  const tooLarge = () =>
    new ProviderHttpError(
      'body_too_large',
      status,
      `the provider answered a body over ${maxBytes} bytes`,
    );
  const declared =
    typeof source.contentLength === 'string' ? source.contentLength : source.contentLength?.[0];
  if (declared !== undefined && declared !== null && /^\s*\d+\s*$/.test(declared)) {
    if (Number(declared) > maxBytes) {
      await stop(source);
      throw tooLarge();
    }
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of source.chunks) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      await stop(source);
      throw tooLarge();
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts, total);
}

async function stop(source: TBodySource): Promise<void> {
  try {
    await source.cancel();
  } catch {
    // Already ended or errored: nothing left to stop.
  }
}

export interface TProviderFetchInit {
  method?: 'GET' | 'POST' | 'DELETE';
  headers?: Record<string, string>;
  body?: string;
  /** The caller's bound (timeout, cancellation): it cuts the whole exchange, the body's reading included. */
  signal: AbortSignal;
  /** Default `PROVIDER_MAX_BODY_BYTES`. */
  maxBodyBytes?: number;
}

/** A provider's non-redirect answer; its body read once, through the cap. */
export interface TProviderResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: Headers;
  text(): Promise<string>;
  /** The body parsed as JSON (a SyntaxError when it is not, as `Response.json`). */
  json(): Promise<unknown>;
  /** Drops the body unread, freeing the connection. */
  discard(): Promise<void>;
}

/**
 * `fetch` for a provider host: a 3xx is refused (`ProviderHttpError` 'redirect', its target never called), and the
 * body is read through `readCappedBody`. Network faults and the signal's abort reject as `fetch` does.
 */
export async function providerFetch(
  url: string | URL,
  init: TProviderFetchInit,
): Promise<TProviderResponse> {
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    ...(init.headers === undefined ? {} : { headers: init.headers }),
    ...(init.body === undefined ? {} : { body: init.body }),
    signal: init.signal,
    redirect: 'manual',
  });
  const discard = async () => {
    try {
      await res.body?.cancel();
    } catch {
      // Already consumed or errored.
    }
  };
  // Node's fetch hands a manual redirect over as it came (its status and Location); the spec's opaque one has 0.
  if (res.type === 'opaqueredirect' || (res.status >= 300 && res.status < 400)) {
    await discard();
    throw new ProviderHttpError(
      'redirect',
      res.status,
      `the provider answered ${res.status}, a redirect, which is never followed`,
    );
  }
  let used = false;
  const text = async (): Promise<string> => {
    if (used) throw new TypeError('the body was already read');
    used = true;
    if (!res.body) return '';
    const reader = res.body.getReader();
    const buf = await readCappedBody(
      {
        chunks: {
          async *[Symbol.asyncIterator]() {
            for (;;) {
              const { done, value } = await reader.read();
              if (done) return;
              yield value;
            }
          },
        },
        contentLength: res.headers.get('content-length'),
        cancel: () => reader.cancel(),
      },
      res.status,
      init.maxBodyBytes,
    );
    // As Response.text: UTF-8, a leading BOM dropped.
    return new TextDecoder().decode(buf);
  };
  return {
    status: res.status,
    ok: res.ok,
    headers: res.headers,
    text,
    json: async () => JSON.parse(await text()) as unknown,
    discard: async () => {
      used = true;
      await discard();
    },
  };
}
