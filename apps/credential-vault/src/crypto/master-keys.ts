/** A master key: wraps (encrypts) the per-credential data keys. Never stored in the database. */
export interface TMasterKey {
  keyId: string;
  /** 32 bytes (AES-256). */
  key: Buffer;
}

export const MASTER_KEY_BYTES = 32;
/** Key ids are stored beside every credential and shown by describe: short, printable, no separators. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A bad key configuration. Messages name the entry and its key id, never key material. */
export class MasterKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MasterKeyError';
  }
}

/**
 * Parses `VAULT_MASTER_KEY`: `keyId:base64(32 bytes)[,keyId2:base64(32 bytes)...]`. The first entry is the
 * active key (new credentials, rotation target); the others only unwrap data keys not yet rotated.
 */
export function parseMasterKeys(spec: string): TMasterKey[] {
  const entries = spec.split(',').map((e) => e.trim());
  if (spec.trim() === '' || entries.some((e) => e === '')) {
    throw new MasterKeyError(
      'expected keyId:base64(32 bytes)[,keyId2:base64...] with no empty entries',
    );
  }
  const keys = entries.map((entry, i) => {
    const sep = entry.indexOf(':');
    if (sep < 0) throw new MasterKeyError(`entry ${i + 1} is not keyId:base64(32 bytes)`);
    const keyId = entry.slice(0, sep);
    const encoded = entry.slice(sep + 1);
    if (!KEY_ID_PATTERN.test(keyId)) {
      throw new MasterKeyError(
        `entry ${i + 1}: key id must be 1-64 of letters, digits, '.', '_' or '-'`,
      );
    }
    if (!BASE64.test(encoded)) {
      throw new MasterKeyError(`key ${keyId}: key is not base64`);
    }
    return { keyId, key: Buffer.from(encoded, 'base64') };
  });
  new MasterKeyRing(keys); // lengths and duplicate ids
  return keys;
}

/** The master keys in use: validated once, looked up by id. */
export class MasterKeyRing {
  readonly active: TMasterKey;
  private readonly byId: Map<string, TMasterKey>;

  constructor(keys: readonly TMasterKey[]) {
    const [active] = keys;
    if (!active) throw new MasterKeyError('at least one master key is needed');
    this.byId = new Map();
    for (const k of keys) {
      if (!KEY_ID_PATTERN.test(k.keyId)) {
        throw new MasterKeyError(
          "key id must be 1-64 of letters, digits, '.', '_' or '-' (got an invalid one)",
        );
      }
      if (k.key.length !== MASTER_KEY_BYTES) {
        throw new MasterKeyError(
          `key ${k.keyId} must be ${MASTER_KEY_BYTES} bytes, got ${k.key.length}`,
        );
      }
      if (this.byId.has(k.keyId)) throw new MasterKeyError(`key id ${k.keyId} is listed twice`);
      // A private copy: the caller's buffer may be reused or zeroed.
      this.byId.set(k.keyId, { keyId: k.keyId, key: Buffer.from(k.key) });
    }
    this.active = this.byId.get(active.keyId) as TMasterKey;
  }

  get(keyId: string): TMasterKey | undefined {
    return this.byId.get(keyId);
  }

  keyIds(): string[] {
    return [...this.byId.keys()];
  }
}
