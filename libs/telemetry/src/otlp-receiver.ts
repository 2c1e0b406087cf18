import { createServer, type Server } from 'node:http';
import { gunzipSync } from 'node:zlib';

/** One span as an OTLP/HTTP JSON export carried it, flattened. */
export interface TReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  /** OTLP span kind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, string | number | boolean | undefined>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
}

export interface TOtlpReceiver {
  /** Base URL: what OTEL_EXPORTER_OTLP_ENDPOINT takes. */
  url: string;
  spans(): TReceivedSpan[];
  close(): Promise<void>;
}

interface TOtlpAnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface TOtlpKeyValue {
  key: string;
  value?: TOtlpAnyValue;
}
interface TOtlpTraces {
  resourceSpans?: {
    resource?: { attributes?: TOtlpKeyValue[] };
    scopeSpans?: {
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind?: number;
        attributes?: TOtlpKeyValue[];
        status?: { code?: number };
        startTimeUnixNano: string;
        endTimeUnixNano: string;
      }[];
    }[];
  }[];
}

function attributesOf(kvs: TOtlpKeyValue[] | undefined): TReceivedSpan['attributes'] {
  const out: TReceivedSpan['attributes'] = {};
  for (const kv of kvs ?? []) {
    const v = kv.value;
    out[kv.key] =
      v?.stringValue ??
      (v?.intValue !== undefined ? Number(v.intValue) : undefined) ??
      v?.doubleValue ??
      v?.boolValue;
  }
  return out;
}

/**
 * A minimal OTLP/HTTP (JSON) trace receiver: what a collector would be, for tests and local debugging of services
 * that run as separate processes. Listens on 127.0.0.1, a free port.
 */
export async function startOtlpReceiver(): Promise<TOtlpReceiver> {
  const received: TReceivedSpan[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      if (!String(req.headers['content-type']).startsWith('application/json')) {
        res.writeHead(415).end();
        return;
      }
      try {
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        const doc = JSON.parse(body.toString('utf8')) as TOtlpTraces;
        for (const rs of doc.resourceSpans ?? []) {
          const resource = attributesOf(rs.resource?.attributes);
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              received.push({
                service: String(resource['service.name'] ?? 'unknown'),
                traceId: s.traceId,
                spanId: s.spanId,
                parentSpanId: s.parentSpanId ? s.parentSpanId : undefined,
                name: s.name,
                kind: s.kind ?? 0,
                attributes: attributesOf(s.attributes),
                statusCode: s.status?.code ?? 0,
                startTimeUnixNano: String(s.startTimeUnixNano),
                endTimeUnixNano: String(s.endTimeUnixNano),
              });
            }
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    spans: () => [...received],
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
