import type { z } from 'zod';

/** mulberry32: a tiny seeded PRNG, so a failing fuzz run can be replayed from its seed. */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }

  bool(p = 0.5): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  uuid(): string {
    const hex = Array.from({ length: 32 }, () => this.int(16).toString(16));
    hex[12] = '4';
    hex[16] = this.pick(['8', '9', 'a', 'b']);
    const h = hex.join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
}

/** One hostile payload: the raw bytes that go on the wire, and what kind of hostility it is. */
export interface THostilePayload {
  kind: string;
  /** Exactly what is sent (a NATS message body, an HTTP body, a tRPC `input`). */
  raw: Uint8Array;
  /** `raw` decoded, when it is JSON. */
  json: { ok: true; value: unknown } | { ok: false };
}

const encoder = new TextEncoder();

const HOSTILE_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\u0000\u0001\u001f',
  '\ud800',
  '\udfff\ud800',
  '\u202eevil\u202c',
  '\u200b\u200d\ufeff',
  'Z\u0351\u0360\u0489\u035a',
  '😀👩‍👩‍👧‍👦🏳️‍🌈',
  'ǅ𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  "' OR 1=1 --",
  '"; drop table vault.credential; --',
  '../../../../etc/passwd',
  '%00%2e%2e%2f',
  '${jndi:ldap://x}',
  '<script>alert(1)</script>',
  '{{7*7}}',
  'javascript:alert(1)',
  'null',
  'undefined',
  'true',
  'NaN',
  '-1',
  '1e309',
  '00000000-0000-0000-0000-00000000000g',
  '2026-13-45T25:61:61Z',
  'not-a-uuid',
  'a@',
  'http://',
  '\r\nInjected: header',
];

const HOSTILE_NUMBERS = [
  -1,
  -0,
  0,
  1.5,
  -2147483649,
  2 ** 53 + 2,
  -(2 ** 53) - 2,
  1e308,
  -1e308,
  5e-324,
];

/** Keys that would poison an object merged with `Object.assign`/spread-unsafe code, and other troublemakers. */
const HOSTILE_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '$where',
  '',
  '\u0000',
  'a'.repeat(1_000),
  '😀',
];

/** Raw texts that are not JSON, or that JSON.parse turns into something surprising. */
const NON_JSON = [
  '{',
  '}',
  '{"a":',
  '[1,2',
  '{a:1}',
  "{'a':1}",
  'NaN',
  'Infinity',
  '-Infinity',
  'undefined',
  '{"a":1,}',
  '[,]',
  '\ufeff{}',
  '{"a":"\\u12"}',
  '{"a":"\\x41"}',
  '01',
  '.5',
  '+1',
  '--1',
  "'str'",
  '{"a":1}{"b":2}',
  'nul',
  'tru',
];

type TZodDef = {
  type: string;
  format?: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  options?: z.ZodType[];
  entries?: Record<string, unknown>;
  values?: unknown[];
  element?: z.ZodType;
  valueType?: z.ZodType;
  left?: z.ZodType;
  right?: z.ZodType;
};

function defOf(schema: z.ZodType | undefined): TZodDef | undefined {
  return (schema as unknown as { _zod?: { def?: TZodDef } } | undefined)?._zod?.def;
}

/** Seeded generator of malformed, oversized and surprising payloads for a zod request schema. */
export class HostilePayloads {
  constructor(
    readonly rnd: SeededRandom,
    private readonly opts: { maxBytes: number },
  ) {}

  /** Big strings are few and reused: building them anew for every payload would cost more than sending them. */
  private readonly huge = new Map<string, string>();
  private readonly oversized = new Map<string, THostilePayload>();
  private readonly nested = new Map<string, string>();

  private hugeString(): string {
    const size = this.rnd.pick([1_024, 4_096, 16_384, 49_152]);
    const unit = this.rnd.pick(['a', 'é', '😀', '\u0000', '"\\']);
    const key = `${size}:${unit}`;
    let s = this.huge.get(key);
    if (s === undefined) {
      s = unit.repeat(Math.ceil(size / unit.length));
      this.huge.set(key, s);
    }
    return s;
  }

  private deep(depth: number): unknown {
    let v: unknown = this.rnd.bool() ? 1 : 'x';
    for (let i = 0; i < depth; i++) v = this.rnd.bool() ? [v] : { a: v };
    return v;
  }

  /** Any value of a random wrong kind. */
  hostileValue(depth = 0): unknown {
    switch (this.rnd.int(depth > 2 ? 6 : 10)) {
      case 0:
        return this.rnd.pick(HOSTILE_STRINGS);
      case 1:
        return this.rnd.pick(HOSTILE_NUMBERS);
      case 2:
        return this.rnd.pick([null, true, false]);
      case 3:
        return this.rnd.bool(0.2) ? this.hugeString() : this.rnd.pick(HOSTILE_STRINGS);
      case 4:
        return [];
      case 5:
        return {};
      case 6:
        return Array.from({ length: this.rnd.int(5) }, () => this.hostileValue(depth + 1));
      case 7:
        return Object.fromEntries(
          Array.from({ length: this.rnd.int(4) }, () => [
            this.rnd.pick(HOSTILE_KEYS),
            this.hostileValue(depth + 1),
          ]),
        );
      case 8:
        return this.deep(this.rnd.pick([8, 64, 512]));
      default:
        return this.rnd.uuid();
    }
  }

  /** A value that usually satisfies `schema` (so the payload gets past the first checks), sometimes not. */
  plausible(schema: z.ZodType | undefined, depth = 0): unknown {
    const def = defOf(schema);
    if (!def || depth > 6) return this.hostileValue(depth);
    switch (def.type) {
      case 'object': {
        const out: Record<string, unknown> = {};
        for (const [k, s] of Object.entries(def.shape ?? {})) {
          if (this.rnd.bool(0.85)) out[k] = this.plausible(s, depth + 1);
        }
        return out;
      }
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'readonly':
      case 'catch':
        return this.rnd.bool(0.15) ? undefined : this.plausible(def.innerType, depth + 1);
      case 'pipe':
        return this.plausible(def.in, depth + 1);
      case 'union':
        return this.plausible(this.rnd.pick(def.options ?? []), depth + 1);
      case 'intersection':
        return {
          ...(this.plausible(def.left, depth + 1) as object),
          ...(this.plausible(def.right, depth + 1) as object),
        };
      case 'enum':
        return this.rnd.pick(Object.values(def.entries ?? {}));
      case 'literal':
        return this.rnd.pick(def.values ?? [null]);
      case 'array':
        return Array.from({ length: this.rnd.int(3) }, () =>
          this.plausible(def.element, depth + 1),
        );
      case 'record':
        return { k: this.plausible(def.valueType, depth + 1) };
      case 'boolean':
        return this.rnd.bool();
      case 'number':
        return this.rnd.pick([1, 5, 20, 100]);
      case 'string':
        switch (def.format) {
          case 'uuid':
          case 'guid':
            return this.rnd.uuid();
          case 'email':
            return 'ada@acme.test';
          case 'datetime':
            return new Date(1_700_000_000_000 + this.rnd.int(1e9)).toISOString();
          case 'url':
            return 'https://example.test/x';
          default:
            return this.rnd.pick(['google', 'acme', 'app', 'contacts', 'x'.repeat(12)]);
        }
      default:
        return this.hostileValue(depth);
    }
  }

  /** `plausible` with one or more leaves broken, fields removed or foreign fields added. */
  private mutate(schema: z.ZodType | undefined): unknown {
    const base = this.plausible(schema);
    if (base === null || typeof base !== 'object' || Array.isArray(base)) return base;
    const obj = base as Record<string, unknown>;
    const keys = Object.keys(obj);
    switch (this.rnd.int(4)) {
      case 0: // wrong type at one field (nested objects: one level down)
        if (keys.length) {
          const k = this.rnd.pick(keys);
          const inner = obj[k];
          if (inner && typeof inner === 'object' && !Array.isArray(inner) && this.rnd.bool()) {
            const ik = Object.keys(inner);
            if (ik.length)
              (inner as Record<string, unknown>)[this.rnd.pick(ik)] = this.hostileValue();
          } else obj[k] = this.hostileValue();
        }
        return obj;
      case 1: // missing fields
        for (const k of keys) if (this.rnd.bool(0.6)) delete obj[k];
        return obj;
      case 2: // numbers at every field
        for (const k of keys) obj[k] = this.rnd.pick(HOSTILE_NUMBERS);
        return obj;
      default: // extra fields
        obj[this.rnd.pick(HOSTILE_KEYS.filter((k) => k !== '__proto__'))] = this.hostileValue();
        return obj;
    }
  }

  private json(kind: string, value: unknown): THostilePayload {
    const text = value === undefined ? '' : JSON.stringify(value);
    return this.text(kind, text);
  }

  private text(kind: string, text: string): THostilePayload {
    return this.bytes(kind, encoder.encode(text));
  }

  private bytes(kind: string, raw: Uint8Array): THostilePayload {
    let json: THostilePayload['json'];
    try {
      json = {
        ok: true,
        value:
          raw.length === 0 ? undefined : (JSON.parse(new TextDecoder().decode(raw)) as unknown),
      };
    } catch {
      json = { ok: false };
    }
    return { kind, raw, json };
  }

  /** One payload of a random kind for a request of `schema`. */
  next(schema: z.ZodType | undefined, allow: { oversized: boolean }): THostilePayload {
    const r = this.rnd.int(100);
    if (r < 33) return this.json('mutated', this.mutate(schema));
    if (r < 43) return this.json('wrong-type', this.hostileValue());
    if (r < 51) {
      // __proto__ as an own key survives only in raw JSON text (an object literal would set the prototype).
      const base = JSON.stringify(this.plausible(schema) ?? {});
      const poison = this.rnd.pick([
        '"__proto__":{"isAdmin":true,"orgId":"00000000-0000-4000-8000-000000000000"}',
        '"constructor":{"prototype":{"polluted":true}}',
        '"__proto__":null',
        '"__proto__":[1,2,3]',
      ]);
      const text =
        base.startsWith('{') && base !== '{}' ? `{${poison},${base.slice(1)}` : `{${poison}}`;
      return this.text('prototype-pollution', text);
    }
    if (r < 57) {
      const depth = this.rnd.pick([100, 1_000, 5_000]);
      const open = this.rnd.bool() ? '[' : '{"a":';
      const close = open === '[' ? ']' : '}';
      // Built as text: JSON.stringify itself recurses and would overflow first. Nested at the top, under a
      // field the schema knows (where a recursive check may walk it), or under a foreign one.
      const nestKey = `${depth}:${open}`;
      const nested = this.nested.get(nestKey) ?? `${open.repeat(depth)}1${close.repeat(depth)}`;
      this.nested.set(nestKey, nested);
      const plausible = this.plausible(schema);
      if (
        this.rnd.bool(0.3) ||
        !plausible ||
        typeof plausible !== 'object' ||
        Array.isArray(plausible)
      ) {
        return this.text('deep-nesting', nested);
      }
      const target = plausible as Record<string, unknown>;
      const keys = Object.keys(target);
      const key = keys.length && this.rnd.bool(0.7) ? this.rnd.pick(keys) : 'nested';
      const inner = target[key];
      const marker = '\u0000deep\u0000';
      // Inside an object field (details, filters…) one level down, so the object itself still parses.
      if (inner && typeof inner === 'object' && !Array.isArray(inner)) {
        (inner as Record<string, unknown>)['x'] = marker;
      } else target[key] = marker;
      const text = JSON.stringify(target).replace(JSON.stringify(marker), nested);
      return this.text('deep-nesting', text);
    }
    if (r < 62) {
      const plausible = this.plausible(schema);
      const target =
        plausible && typeof plausible === 'object' && !Array.isArray(plausible)
          ? (plausible as Record<string, unknown>)
          : {};
      const keys = Object.keys(target);
      target[keys.length ? this.rnd.pick(keys) : 'x'] = this.hugeString();
      return this.json('huge-string', target);
    }
    if (r < 70) return this.text('non-json', this.rnd.pick(NON_JSON));
    if (r < 74) {
      const raw = new Uint8Array(1 + this.rnd.int(64));
      for (let i = 0; i < raw.length; i++) raw[i] = this.rnd.int(256);
      // Invalid UTF-8 start bytes make sure it is not text by accident.
      raw[0] = this.rnd.pick([0xff, 0xfe, 0xc0, 0x80]);
      return this.bytes('binary', raw);
    }
    if (r < 77) return this.text('empty', '');
    if (r < 86) {
      const plausible = this.plausible(schema);
      const target =
        plausible && typeof plausible === 'object' && !Array.isArray(plausible)
          ? (plausible as Record<string, unknown>)
          : {};
      for (const k of Object.keys(target)) {
        if (this.rnd.bool(0.7)) target[k] = this.rnd.pick(HOSTILE_STRINGS);
      }
      target[this.rnd.pick(HOSTILE_STRINGS)] = this.rnd.pick(HOSTILE_STRINGS);
      return this.json('unicode', target);
    }
    if (r < 93) {
      // Numbers JSON cannot carry (NaN, ±Infinity written out) or that parse to Infinity.
      const plausible = JSON.stringify(this.plausible(schema) ?? {});
      const bad = this.rnd.pick(['NaN', '-Infinity', '1e400', '-1e400', '-0', '1E+2']);
      const text =
        plausible.startsWith('{') && plausible !== '{}'
          ? `{"limit":${bad},${plausible.slice(1)}`
          : `{"limit":${bad}}`;
      return this.text('odd-number', text);
    }
    if (allow.oversized && r < 94) {
      // Just over the limit, as a string, many small values or deep structure.
      const shape = this.rnd.pick(['string', 'array', 'nested'] as const);
      let p = this.oversized.get(shape);
      if (!p) {
        const n = this.opts.maxBytes + 1_024;
        const text =
          shape === 'string'
            ? JSON.stringify({ blob: 'x'.repeat(n) })
            : shape === 'array'
              ? `[${'1,'.repeat(n / 2)}1]`
              : `${'{"a":'.repeat(n / 5)}1${'}'.repeat(n / 5)}`;
        p = this.text('oversized', text);
        this.oversized.set(shape, p);
      }
      return p;
    }
    return this.json('wrong-type', this.hostileValue());
  }
}
