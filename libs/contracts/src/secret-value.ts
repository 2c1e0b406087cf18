/**
 * Whether a string value in free-form details (audit entries) looks like a secret. Details carry identifiers the
 * providers hand out — hosts (`acmecorporation1.service-now.com`), slugs, ServiceNow's 32-hex sys_ids, UUIDs, URLs,
 * emails — which must pass, and must never carry a bearer token or key, which is what this catches: tokens with a
 * known prefix, JWTs, credentials written into URLs or `key=value` text, and long random-looking strings anywhere in
 * the value. Keys are judged separately (`SECRET_KEY_PATTERN`, the first line: a secret is usually named).
 *
 * Known gap, on purpose: a secret made only of hex up to 40 digits (a Twilio auth token) has exactly the shape of a
 * ServiceNow sys_id or a trace id, so only its key can give it away. Every regex here runs in linear time: the values
 * are hostile input.
 */

/** Keys in free-form details that must never carry a secret. */
export const SECRET_KEY_PATTERN =
  /(token|secret|password|passwd|api[_-]?key|authorization|credential|private[_-]?key|master[_-]?key|cookie)/i;

/** Shorter runs are left alone: ids, words and short codes; the generic rule looks at runs this long or longer. */
export const MIN_OPAQUE_RUN = 32;

/** Tokens and keys recognisable by their prefix, whatever their length. */
const KNOWN_TOKEN = new RegExp(
  '(?:^|[^A-Za-z0-9])(?:' +
    [
      'ya29\\.[A-Za-z0-9_-]{10,}', // Google OAuth access token
      'xox[abeoprs]-[A-Za-z0-9-]{10,}', // Slack tokens
      'xapp-[A-Za-z0-9-]{10,}', // Slack app-level token
      'gh[opsur]_[A-Za-z0-9]{20,}', // GitHub tokens
      'github_pat_[A-Za-z0-9_]{20,}',
      'glpat-[A-Za-z0-9_-]{20,}', // GitLab
      '[sr]k_(?:live|test)_[A-Za-z0-9]{10,}', // Stripe secret and restricted keys
      'whsec_[A-Za-z0-9+/=]{10,}', // Stripe webhook signing secret
      'otk_[A-Za-z0-9_-]{20,}', // this project's API tokens (libs/identity: otk_ + base64url of 32 bytes)
      'fp[acr]_[A-Za-z0-9_-]{20,}', // the fake provider's access and refresh tokens and its codes
      'AKIA[0-9A-Z]{16}', // AWS access key id
      'AIza[0-9A-Za-z_-]{35}', // Google API key
      'SG\\.[A-Za-z0-9_-]{16,}\\.[A-Za-z0-9_-]{16,}', // SendGrid
      '00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]{20,}', // Salesforce session / access token
      'eyJ[A-Za-z0-9_-]{4,}\\.[A-Za-z0-9_-]{4,}\\.', // JWT (JWS, JWE): base64url('{"…') header and payload
    ].join('|') +
    ')',
);

/** `Authorization` header values: a scheme, then a credential (with a digit or base64 padding: not a word). */
const AUTH_SCHEME = /\b(?:Bearer|Basic)\s+(?=[A-Za-z0-9._~+/=-]*[0-9+/=])[A-Za-z0-9._~+/=-]{12,}/i;

/** `scheme://user:password@host`: a password written into a URL. */
const URL_PASSWORD = /:\/\/[^/\s:@]*:[^/\s@]+@/;

/** `key=value` pairs (query strings, form bodies, log lines): the key judged like a details key. */
const ASSIGNMENT = /([A-Za-z0-9_.[\]-]{1,64})=([^\s&;,#"'=]{6,})/g;
/** Parameters that carry a secret in a URL though a details key could not name them so (an OAuth code, a signature). */
const SECRET_PARAM =
  /^(?:code|key|sig|signature|x-amz-signature|x-goog-signature|sessionid|session|sid|auth)$/i;
/** What a secret-named parameter may hold: a flag, a number, an id, or (for the weaker names) an enum-like word. */
const HARMLESS_ASSIGNED =
  /^(?:null|true|false|undefined|[0-9]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;
const ENUM_LIKE = /^(?:[a-z][a-z_]*|[A-Z][A-Z_]*)$/;

/** Maximal runs of the characters base64, base64url and hex tokens are made of (`.` and `@` split hosts, emails). */
const TOKEN_RUN = new RegExp(`[A-Za-z0-9+/=_-]{${MIN_OPAQUE_RUN},}`, 'g');
/** Pieces of a run that read as structure, not randomness: words, numbers, hex ids, word+number (`emea1`, `v2`). */
const PLAIN_PIECE = [
  /^[a-z]+$/,
  /^[A-Z]+$/,
  /^[A-Z][a-z]+$/,
  /^[0-9]+$/,
  // Hex up to 40 digits: ServiceNow sys_ids (32), trace ids, Atlassian account ids (24), SHA-1 (40). Longer hex is a
  // key or an OAuth token (Zendesk's are 64 hex digits) far more often than an id.
  /^[0-9a-f]{1,40}$/,
  /^[0-9A-F]{1,40}$/,
  /^[A-Za-z][a-z]*[0-9]{1,4}$/,
  /^[0-9]{1,4}[a-z]{1,4}$/,
];

type TCharClass = 'upper' | 'lower' | 'digit';
function charClass(c: string): TCharClass {
  if (c >= 'A' && c <= 'Z') return 'upper';
  if (c >= 'a' && c <= 'z') return 'lower';
  return 'digit';
}

/**
 * Whether a run of token characters is random-looking. Its plain pieces (split at separators) are dropped; what is
 * left is judged by how often it switches between upper case, lower case and digits: a random base62/base64 string
 * switches at about 6 in 10 characters, base36 at 4 in 10, while words, CamelCase names and slugs switch rarely
 * (`AcmeCorporationProductionEMEA1Region`: 1 in 4; a Salesforce id: 1 in 4).
 */
function isOpaqueRun(run: string): boolean {
  const rest = run
    .split(/[/+=_-]+/)
    .filter((p) => p !== '' && !PLAIN_PIECE.some((re) => re.test(p)))
    .join('');
  if (rest.length < 16) return false;
  const seen = new Set<TCharClass>();
  let switches = 0;
  let prev: TCharClass | undefined;
  for (const c of rest) {
    const k = charClass(c);
    seen.add(k);
    if (prev !== undefined && k !== prev) switches += 1;
    prev = k;
  }
  const rate = switches / (rest.length - 1);
  const digits = seen.has('digit');
  if (seen.size === 3) return rate >= 0.3;
  // Two classes: base36 (lower + digits) or base32 (upper + digits) tokens, or long hex, or mixed-case letters.
  if (seen.size === 2) return digits ? rate >= 0.15 : rate >= 0.4;
  return false;
}

/** Whether a details value looks like a secret (see the file's comment for what passes and what does not). */
export function looksLikeSecretValue(value: string): boolean {
  if (KNOWN_TOKEN.test(value) || AUTH_SCHEME.test(value) || URL_PASSWORD.test(value)) return true;
  for (const m of value.matchAll(ASSIGNMENT)) {
    const [, key = '', assigned = ''] = m;
    if (HARMLESS_ASSIGNED.test(assigned)) continue;
    if (SECRET_KEY_PATTERN.test(key)) return true;
    if (SECRET_PARAM.test(key) && !ENUM_LIKE.test(assigned)) return true;
  }
  for (const m of value.matchAll(TOKEN_RUN)) {
    if (isOpaqueRun(m[0])) return true;
  }
  return false;
}
