/** The same server and database as `url`, as another role (each service connects as its own role). */
export function urlForRole(url: string, role: string, password?: string): string {
  const u = new URL(url);
  u.username = role;
  u.password = password ?? '';
  return u.toString();
}

export function urlForDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || 'postgres';
}

/** Query parameters that carry a secret (libpq's `password`, the client key's `sslpassword`). */
const SECRET_PARAMS = ['password', 'sslpassword'];

/**
 * A URL safe to print (a database's or NATS's): no password, in its user part or as a parameter; one that does not
 * parse is not printed at all (it could be anything, a password included).
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '(a value that is not a URL)';
  }
  if (u.password) u.password = '***';
  for (const name of [...u.searchParams.keys()])
    if (SECRET_PARAMS.includes(name.toLowerCase())) u.searchParams.set(name, '***');
  return u.toString();
}
