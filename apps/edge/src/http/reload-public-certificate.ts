import { X509Certificate } from 'node:crypto';
import type { Logger } from '@otesse/logging';

/** What an operator checks of a certificate: never the key. */
export function describeCertificate(certPem: string): {
  subject: string;
  validTo: string;
  fingerprint256: string;
} {
  const c = new X509Certificate(certPem);
  return {
    subject: c.subject,
    validTo: new Date(c.validTo).toISOString(),
    fingerprint256: c.fingerprint256,
  };
}

/**
 * On SIGHUP (what certbot's deploy hook or a Kubernetes secret reloader sends), reads the public port's certificate
 * and key again and serves them from the next handshake: a renewal needs no restart. A pair that cannot be read or
 * used is refused with an error line and the current one stays. Without TLS, SIGHUP only says so — it no longer
 * ends the process, as Node's default would.
 */
export function reloadPublicCertificateOnSighup(opts: {
  /** Reads EDGE_TLS_CERT_FILE and EDGE_TLS_KEY_FILE again (undefined: the port is plain HTTP). */
  read: () => { cert: string; key: string } | undefined;
  reload: (tls: { cert: string; key: string }) => void;
  logger: Logger;
}): void {
  process.on('SIGHUP', () => {
    let tls: { cert: string; key: string } | undefined;
    try {
      tls = opts.read();
      if (!tls) {
        opts.logger.warn('SIGHUP: the public port is plain HTTP, no certificate to reload');
        return;
      }
      opts.reload(tls);
    } catch (e) {
      opts.logger.error(
        { reason: (e as Error).message },
        'public port certificate not reloaded: the current one stays',
      );
      return;
    }
    opts.logger.info(describeCertificate(tls.cert), 'public port certificate reloaded');
  });
}
