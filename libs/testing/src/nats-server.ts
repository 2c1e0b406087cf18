import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { connect, type TlsOptions } from 'nats';
import { NATS_DEV_PASSWORD_ENV, NATS_PROBE_USER } from './nats-users';
import { freePort } from './ports';
import { waitFor } from './wait-for';

class PortTakenError extends Error {}

export const NATS_SERVER_BIN = process.env['NATS_SERVER_BIN'] ?? '/usr/sbin/nats-server';

export interface TTestNats {
  url: string;
  port: number;
  stop(): Promise<void>;
  /** Kill and start again on the same port and store (JetStream data survives); `env`: more of its environment. */
  restart(env?: Record<string, string>): Promise<void>;
}

/**
 * A real nats-server with JetStream on a free port, private to one test file, so parallel test files never
 * answer each other's requests. `configFile` runs it with the project's own config (users, permissions): the
 * test one, NATS_CONFIG_FILE, which has the `probe` user this readiness check logs in as; the dev passwords the
 * configs read from the environment are in nats-server's.
 */
export async function startNatsServer(
  opts: {
    configFile?: string;
    /** More of nats-server's environment (what the config file reads: TLS files, say). */
    env?: Record<string, string>;
    /** TLS of the readiness check, for a config that requires it (PEM file paths). */
    clientTls?: { caFile: string; certFile?: string; keyFile?: string };
  } = {},
): Promise<TTestNats> {
  let port = await freePort();
  const storeDir = mkdtempSync(join(tmpdir(), 'otesse-nats-'));
  let proc: ChildProcess | undefined;
  let url = `nats://127.0.0.1:${port}`;

  let extraEnv: Record<string, string> = {};
  /**
   * Starts nats-server on `port` and waits until *this* process answers there. A free port can be taken between
   * `freePort()` and the bind, and a restart leaves its port free for a moment: another test file's nats-server may
   * sit there. Then ours exits (address in use) while the other one answers the probe, and two test files' stacks
   * would share one NATS and answer each other's requests. So the server is named, the probe checks the name, and
   * an exit is an error (the first launch moves to another port).
   */
  const launch = async (): Promise<void> => {
    const name = `otesse-test-${randomUUID()}`;
    const args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, '-n', name];
    if (opts.configFile) args.push('-c', opts.configFile);
    const child = spawn(NATS_SERVER_BIN, args, {
      stdio: 'ignore',
      env: { ...process.env, ...NATS_DEV_PASSWORD_ENV, ...opts.env, ...extraEnv },
    });
    proc = child;
    let gone: PortTakenError | undefined;
    const exited = new Promise<never>((_, reject) => {
      child.once('exit', (code) => {
        gone = new PortTakenError(`nats-server on ${port} exited (${code}): port taken?`);
        reject(gone);
      });
    });
    exited.catch(() => undefined);
    const ready = waitFor(
      async () => {
        if (gone) return true; // the race below already failed
        const nc = await connect({
          servers: url,
          reconnect: false,
          ...(opts.configFile ? NATS_PROBE_USER : {}),
          ...(opts.clientTls ? { tls: natsClientTls(opts.clientTls) } : {}),
        }).catch((e: Error) => (/Authorization/i.test(e.message) ? 'refused' : undefined));
        // Refused credentials: someone listens; whether it is ours, only its staying alive tells.
        if (nc === 'refused') {
          await new Promise((r) => setTimeout(r, 200));
          return gone ? undefined : true;
        }
        if (!nc) return undefined;
        const ours = nc.info?.server_name === name;
        await nc.close();
        return ours ? true : undefined;
      },
      { timeoutMs: 10_000, what: `nats-server on ${port}` },
    );
    ready.catch(() => undefined);
    await Promise.race([ready, exited]);
    if (gone) throw gone;
  };

  const kill = async (): Promise<void> => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  };

  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (e) {
      if (!(e instanceof PortTakenError) || attempt === 5) throw e;
      port = await freePort();
      url = `nats://127.0.0.1:${port}`;
    }
  }
  return {
    url,
    port,
    restart: async (env) => {
      await kill();
      if (env) extraEnv = env;
      await launch();
    },
    stop: async () => {
      await kill();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

/** nats.js TLS options from PEM file paths (the test certificates). */
export function natsClientTls(files: {
  caFile: string;
  certFile?: string;
  keyFile?: string;
}): TlsOptions {
  return {
    ca: readFileSync(files.caFile, 'utf8'),
    ...(files.certFile ? { cert: readFileSync(files.certFile, 'utf8') } : {}),
    ...(files.keyFile ? { key: readFileSync(files.keyFile, 'utf8') } : {}),
  };
}
