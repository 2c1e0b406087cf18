import { DEFAULT_HOST, DEFAULT_PORT } from './fake-provider.defaults.js';
import { startFakeProvider } from './fake-provider.server.js';

function readPort(raw: string | undefined): number {
  if (raw === undefined || raw === '') return DEFAULT_PORT;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`FAKE_PROVIDER_PORT must be a port number, got ${raw}`);
  }
  return port;
}

const provider = await startFakeProvider({
  host: process.env['FAKE_PROVIDER_HOST'] || DEFAULT_HOST,
  port: readPort(process.env['FAKE_PROVIDER_PORT']),
});
console.log(JSON.stringify({ msg: 'fake provider listening', url: provider.url }));

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  provider.close().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(JSON.stringify({ msg: 'fake provider close failed', error: String(err) }));
      process.exit(1);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
