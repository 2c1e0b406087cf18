import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** PEM files of a throwaway CA and what it signed, for tests of TLS to NATS and Postgres. */
export interface TTestCertificates {
  dir: string;
  /** The CA every party trusts. */
  caFile: string;
  /** A server certificate for 127.0.0.1 and localhost. */
  serverCertFile: string;
  serverKeyFile: string;
  /** A client certificate (CN `otesse-service`) for servers that verify their clients. */
  clientCertFile: string;
  clientKeyFile: string;
  /**
   * A NATS cluster node's route certificate (127.0.0.1 and localhost, serverAuth and clientAuth: a node dials and is
   * dialled), and one the other CA signed: a node presenting it must be refused.
   */
  routeCertFile: string;
  routeKeyFile: string;
  foreignRouteCertFile: string;
  foreignRouteKeyFile: string;
  /** A second CA, which signed nothing of the above but the foreign route certificate. */
  otherCaFile: string;
  remove(): void;
}

const openssl = (args: string[], cwd: string): void => {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
};

/**
 * Generates the CA, a server and a client certificate with the `openssl` command line (Debian's, present wherever
 * Postgres is). Node can verify certificates but not issue them.
 */
export function createTestCertificates(): TTestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'otesse-tls-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const selfSigned = (name: string, cn: string): void =>
    openssl(
      [
        'req',
        '-x509',
        ...ec,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.pem`,
        '-days',
        '1',
        '-subj',
        `/CN=${cn}`,
      ],
      dir,
    );
  const signed = (name: string, cn: string, ext: string, ca = 'ca'): void => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(
      ['req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`],
      dir,
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${ca}.pem`,
        '-CAkey',
        `${ca}.key`,
        '-CAcreateserial',
        '-days',
        '1',
        '-extfile',
        `${name}.ext`,
        '-out',
        `${name}.pem`,
      ],
      dir,
    );
  };
  selfSigned('ca', 'Otesse Test CA');
  selfSigned('other-ca', 'Some Other CA');
  signed(
    'server',
    'localhost',
    'subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth\n',
  );
  signed('client', 'otesse-service', 'extendedKeyUsage = clientAuth\n');
  const routeExt =
    'subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth, clientAuth\n';
  signed('route', 'otesse-nats-route', routeExt);
  signed('foreign-route', 'otesse-nats-route', routeExt, 'other-ca');
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    serverCertFile: join(dir, 'server.pem'),
    serverKeyFile: join(dir, 'server.key'),
    clientCertFile: join(dir, 'client.pem'),
    clientKeyFile: join(dir, 'client.key'),
    routeCertFile: join(dir, 'route.pem'),
    routeKeyFile: join(dir, 'route.key'),
    foreignRouteCertFile: join(dir, 'foreign-route.pem'),
    foreignRouteKeyFile: join(dir, 'foreign-route.key'),
    otherCaFile: join(dir, 'other-ca.pem'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
