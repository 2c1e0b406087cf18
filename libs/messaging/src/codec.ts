const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Returns `undefined` for a body that is not JSON (the caller answers BAD_REQUEST). */
export function decodeJson(data: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    return {
      ok: true,
      value: data.length === 0 ? undefined : (JSON.parse(decoder.decode(data)) as unknown),
    };
  } catch {
    return { ok: false };
  }
}
