import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports';

/** Where Debian keeps the server's binaries (the newest version installed), or PG_BIN_DIR. */
function postgresBinDir(): string {
  const fromEnv = process.env['PG_BIN_DIR'];
  if (fromEnv) return fromEnv;
  const versions = readdirSync('/usr/lib/postgresql')
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  if (!versions[0])
    throw new Error('no PostgreSQL server under /usr/lib/postgresql (set PG_BIN_DIR)');
  return `/usr/lib/postgresql/${versions[0]}/bin`;
}

export interface TPrivatePostgresTls {
  /** The server's certificate and key. */
  certFile: string;
  keyFile: string;
  /** When set, every client must present a certificate this CA signed (`clientcert=verify-ca`). */
  clientCaFile?: string;
}

export interface TPrivatePostgres {
  port: number;
  /**
   * The superuser's URL (database `postgres`), with `sslmode=verify-full&sslrootcert=<caFile>` (and the client
   * certificate) when the server runs TLS and a CA file is given.
   */
  adminUrl: string;
  /** The server's log so far (refused connections are logged there). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * A PostgreSQL server of its own on a free port (initdb, pg_ctl), for what the machine's shared server must not be
 * changed for: here TLS only, plaintext refused by pg_hba.conf. As root it runs as the `postgres` user (initdb
 * refuses root). Starts in about two seconds; fsync off, as nothing of it outlives the test.
 */
export async function startPrivatePostgres(opts: {
  tls?: TPrivatePostgresTls;
  /** What the admin URL trusts and presents (test certificates). */
  client?: { caFile: string; certFile?: string; keyFile?: string };
}): Promise<TPrivatePostgres> {
  const bin = postgresBinDir();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'otesse-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot
    ? {
        uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
        gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
      }
    : undefined;
  const run = (cmd: string, args: string[]): string =>
    execFileSync(
      asRoot ? 'runuser' : join(bin, cmd),
      asRoot ? ['-u', 'postgres', '--', join(bin, cmd), ...args] : args,
      {
        stdio: 'pipe',
      },
    ).toString();
  const own = (path: string): void => {
    if (owner) chownSync(path, owner.uid, owner.gid);
  };
  own(dir);
  try {
    run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']);
    const conf = [
      `port = ${port}`,
      `listen_addresses = '127.0.0.1'`,
      `unix_socket_directories = '${dir}'`,
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      'max_connections = 100',
    ];
    const hba = [`local all all trust`];
    if (opts.tls) {
      const copy = (from: string, name: string, mode: number): string => {
        const to = join(dir, name);
        copyFileSync(from, to);
        own(to);
        chmodSync(to, mode);
        return to;
      };
      conf.push(
        'ssl = on',
        `ssl_cert_file = '${copy(opts.tls.certFile, 'server.pem', 0o644)}'`,
        // Postgres refuses a key others can read.
        `ssl_key_file = '${copy(opts.tls.keyFile, 'server.key', 0o600)}'`,
      );
      if (opts.tls.clientCaFile)
        conf.push(`ssl_ca_file = '${copy(opts.tls.clientCaFile, 'client-ca.pem', 0o644)}'`);
      // TLS or nothing: a plaintext connection over TCP matches the `reject` line.
      hba.push(
        `hostssl all all 127.0.0.1/32 trust${opts.tls.clientCaFile ? ' clientcert=verify-ca' : ''}`,
        'host all all 127.0.0.1/32 reject',
      );
    } else {
      hba.push('host all all 127.0.0.1/32 trust');
    }
    appendFileSync(join(data, 'postgresql.conf'), `\n${conf.join('\n')}\n`);
    writeFileSync(join(data, 'pg_hba.conf'), `${hba.join('\n')}\n`);
    run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '30', 'start']);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `private PostgreSQL did not start: ${(e as { stderr?: Buffer }).stderr?.toString() ?? (e as Error).message}`,
    );
  }
  const url = new URL(`postgres://postgres@127.0.0.1:${port}/postgres`);
  if (opts.client) {
    url.searchParams.set('sslmode', 'verify-full');
    url.searchParams.set('sslrootcert', opts.client.caFile);
    if (opts.client.certFile && opts.client.keyFile) {
      url.searchParams.set('sslcert', opts.client.certFile);
      url.searchParams.set('sslkey', opts.client.keyFile);
    }
  }
  let stopped = false;
  return {
    port,
    adminUrl: url.toString(),
    log: () => {
      try {
        return readFileSync(join(dir, 'server.log'), 'utf8');
      } catch {
        return '';
      }
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
