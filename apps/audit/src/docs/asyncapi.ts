import { z } from 'zod';
import {
  auditContracts,
  eventContracts,
  HEADERS,
  STREAMS,
  type TEventSubject,
  type TStreamName,
} from '@otesse/contracts';
import { AUDIT_DURABLE } from '../audit-writer';

/**
 * The AsyncAPI 3.0 document of what other Otesse services may use: the JetStream subjects (INTEGRATIONS events,
 * the AUDIT stream) and the audit service's request/reply subjects. Generated from libs/contracts (zod →
 * JSON Schema), so it cannot drift: `npx tsx apps/audit/src/docs/generate-asyncapi.ts` rewrites
 * docs/asyncapi.yaml, and a test fails when the committed file is stale.
 */
export function buildAsyncApi(): Record<string, unknown> {
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};

  const headers = (msgIdDescription: string | undefined) => ({
    type: 'object',
    properties: {
      [HEADERS.traceId]: { type: 'string', description: 'Trace id (set by every publisher).' },
      [HEADERS.orgId]: { type: 'string', description: 'The org concerned, when there is one.' },
      [HEADERS.actorUserId]: { type: 'string', description: 'The acting user, when there is one.' },
      ...(msgIdDescription
        ? { 'Nats-Msg-Id': { type: 'string', description: msgIdDescription } }
        : {}),
    },
  });

  for (const [subject, contract] of Object.entries(eventContracts) as [
    TEventSubject,
    (typeof eventContracts)[TEventSubject],
  ][]) {
    const id = camel(subject);
    const stream = contract.stream as TStreamName;
    const def = STREAMS[stream];
    const isAudit = stream === 'AUDIT';
    // Events only grow (new optional fields): a subscriber must ignore fields it does not know, so their schemas
    // do not close the object the way the request/reply schemas do.
    schemas[pascal(subject)] = jsonSchema(contract.payload, 'output', { open: true });
    messages[pascal(subject)] = {
      name: subject,
      title: subject,
      contentType: 'application/json',
      headers: headers(
        contract.delivery
          ? `JetStream msgID = ${contract.delivery.msgId}: a duplicate publish inside the duplicate window is dropped.`
          : 'JetStream msgID = the payload’s eventId: a duplicate publish inside the duplicate window is dropped.',
      ),
      payload: { $ref: `#/components/schemas/${pascal(subject)}` },
    };
    channels[id] = {
      address: subject,
      title: subject,
      description: isAudit
        ? `JetStream stream ${stream} (subjects ${def.subjects.join(', ')}). Any Otesse service records an ` +
          'audit entry by publishing here with msgID = eventId; the audit service reads it through the durable ' +
          `consumer "${AUDIT_DURABLE}" (explicit acks), dedupes by eventId, and appends it to the org's hash ` +
          'chain — an event published while the audit service is down is written when it is back. Other ' +
          'services may read the stream with their own durable consumers.'
        : contract.delivery
          ? `JetStream stream ${stream} (subjects ${def.subjects.join(', ')}): ${def.carries}. ` +
            `${contract.delivery.published}, with msgID = ${contract.delivery.msgId}; read with your ` +
            `own durable consumer and dedupe by ${contract.delivery.dedupeBy}.`
          : `JetStream stream ${stream} (subjects ${def.subjects.join(', ')}): ${def.carries}. ` +
            'Published after the change is committed, with msgID = eventId (a retry re-publishes the ' +
            'same event); read with your own durable consumer and dedupe by eventId. New optional fields may ' +
            'be added to an event: ignore the ones you do not know.',
      ...(contract.about ? { summary: contract.about } : {}),
      messages: { [pascal(subject)]: { $ref: `#/components/messages/${pascal(subject)}` } },
      'x-jetstream': {
        stream,
        streamSubjects: [...def.subjects],
        maxAgeDays: def.maxAgeMs / 86_400_000,
        duplicateWindowSeconds: def.duplicateWindowMs / 1_000,
        ...(isAudit ? { durableConsumer: AUDIT_DURABLE, ackPolicy: 'explicit' } : {}),
      },
    };
    operations[isAudit ? `record${pascal(subject)}` : `publish${pascal(subject)}`] = {
      action: isAudit ? 'receive' : 'send',
      channel: { $ref: `#/channels/${id}` },
      summary: isAudit
        ? 'The audit service consumes audit events (publish them from any service).'
        : 'Otesse Integrations publishes this event; subscribe to react to it.',
      messages: [{ $ref: `#/channels/${id}/messages/${pascal(subject)}` }],
    };
  }

  for (const [subject, contract] of Object.entries(auditContracts)) {
    const id = camel(subject);
    const req = `${pascal(subject)}Request`;
    const rep = `${pascal(subject)}Reply`;
    schemas[req] = jsonSchema(contract.request, 'input');
    schemas[rep] = jsonSchema(contract.reply);
    messages[req] = {
      name: `${subject} request`,
      contentType: 'application/json',
      headers: headers(undefined),
      payload: { $ref: `#/components/schemas/${req}` },
    };
    messages[rep] = {
      name: `${subject} reply`,
      contentType: 'application/json',
      description:
        'On failure the reply carries the `Nats-Service-Error-Code` header and ' +
        `{"error":{"code","message","reason"?}} instead; codes: ${[...new Set(['BAD_REQUEST', ...contract.errors, 'INTERNAL'])].join(', ')}.`,
      payload: { $ref: `#/components/schemas/${rep}` },
    };
    channels[id] = {
      address: subject,
      title: subject,
      description:
        'NATS request/reply (core NATS, queue group "q"), answered by the audit service.',
      messages: { [req]: { $ref: `#/components/messages/${req}` } },
    };
    channels[`${id}Reply`] = {
      address: null,
      description: 'The requester’s reply inbox.',
      messages: { [rep]: { $ref: `#/components/messages/${rep}` } },
    };
    operations[`answer${pascal(subject)}`] = {
      action: 'receive',
      channel: { $ref: `#/channels/${id}` },
      messages: [{ $ref: `#/channels/${id}/messages/${req}` }],
      reply: {
        channel: { $ref: `#/channels/${id}Reply` },
        messages: [{ $ref: `#/channels/${id}Reply/messages/${rep}` }],
      },
    };
  }

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Otesse Integrations — subjects for other Otesse services',
      version: '0.1.0',
      description:
        'Generated from libs/contracts by apps/audit/src/docs/generate-asyncapi.ts; do not edit by hand.\n' +
        'JSON payloads; every message carries the Otesse-Trace-Id header. Events are at-least-once: consumers ' +
        'dedupe by eventId.',
    },
    defaultContentType: 'application/json',
    servers: {
      nats: {
        host: '127.0.0.1:4222',
        protocol: 'nats',
        description:
          'NATS with JetStream (NATS_URL); streams are created idempotently by publishers.',
        security: [{ $ref: '#/components/securitySchemes/natsUser' }],
      },
    },
    channels,
    operations,
    components: {
      schemas,
      messages,
      securitySchemes: {
        natsUser: {
          type: 'userPassword',
          description:
            'Every client logs in as its own NATS user, which may publish and subscribe only to the subjects ' +
            'it is granted (tools/nats/authorization.conf). Another Otesse service gets a user from the ' +
            'template there: its own inbox prefix (`_INBOX_<service>`), its own named durable consumers on ' +
            'INTEGRATIONS / AUDIT (`$JS.API.CONSUMER.*` and `$JS.ACK.*` for those names only), ' +
            '`audit.entries.append` to record audit entries, and any request subject it calls ' +
            '(e.g. `audit.entries.list`). Its password is read by nats-server from NATS_<SERVICE>_PASSWORD.',
        },
      },
    },
  };
}

function words(subject: string): string[] {
  return subject.split(/[._-]/).filter(Boolean);
}
function pascal(subject: string): string {
  return words(subject)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');
}
function camel(subject: string): string {
  const p = pascal(subject);
  return p[0]!.toLowerCase() + p.slice(1);
}

/** JSON Schema draft-07 (AsyncAPI's schema dialect) of a contract, without the verbose uuid/date regexes. */
function jsonSchema(
  schema: z.ZodType,
  io: 'input' | 'output' = 'output',
  opts: { open?: boolean } = {},
): unknown {
  const raw = z.toJSONSchema(schema, { target: 'draft-7', unrepresentable: 'any', io });
  return clean(raw, opts.open === true);
}

function clean(v: unknown, open: boolean): unknown {
  if (Array.isArray(v)) return v.map((x) => clean(x, open));
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(o)) {
    if (k === '$schema') continue;
    // `format` says it: the generated patterns only repeat it at length.
    if (k === 'pattern' && (o['format'] === 'uuid' || o['format'] === 'date-time')) continue;
    if (open && k === 'additionalProperties' && val === false) continue;
    out[k] = clean(val, open);
  }
  return out;
}

/** YAML for JSON-like data: block style; strings plain when unambiguous, else JSON-quoted (valid YAML). */
export function toYaml(value: unknown, indent = 0): string {
  return `${emit(value, indent)}\n`;
}

const PLAIN = /^[A-Za-z_][A-Za-z0-9_./ ()'’,;-]*$/;
const RESERVED = /^(true|false|null|yes|no|on|off|y|n|~)$/i;

function scalar(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return '[]';
  if (typeof v === 'object') return '{}';
  const s = String(v);
  return PLAIN.test(s) && !RESERVED.test(s) && !s.endsWith(' ') && !s.includes(': ')
    ? s
    : JSON.stringify(s);
}

function key(k: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_.$-]*$/.test(k) && !RESERVED.test(k) ? k : JSON.stringify(k);
}

function emit(v: unknown, indent: number): string {
  const pad = ' '.repeat(indent);
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    return v
      .map((item, i) => {
        const body = isBlock(item) ? emit(item, indent + 2).trimStart() : scalar(item);
        return `${i === 0 ? '' : pad}- ${body}`;
      })
      .join('\n');
  }
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    if (entries.length === 0) return '{}';
    return entries
      .map(([k, x], i) => {
        const head = `${i === 0 ? '' : pad}${key(k)}:`;
        if (typeof x === 'string' && x.includes('\n') && !/(^\s|\s$|\s\n)/.test(x)) {
          const lines = x.split('\n').map((l) => `${pad}  ${l}`);
          return `${head} |-\n${lines.join('\n')}`;
        }
        if (!isBlock(x)) return `${head} ${scalar(x)}`;
        return `${head}\n${pad}  ${emit(x, indent + 2)}`;
      })
      .join('\n');
  }
  return scalar(v);
}

function isBlock(v: unknown): boolean {
  return (
    v !== null &&
    typeof v === 'object' &&
    (Array.isArray(v) ? v.length > 0 : Object.keys(v).length > 0)
  );
}
